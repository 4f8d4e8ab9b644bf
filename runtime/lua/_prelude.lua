-- Shared by every queue script (prepended by runtime/scripts.py). Every key a script may touch
-- is declared in KEYS in this fixed order (runtime/keys.py: QueueKeys.script_keys), so no key
-- name is ever built inside Lua and every script runs unchanged on Redis Cluster.
local K_WAIT, K_DELAYED, K_ACTIVE, K_COMPLETED, K_FAILED = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local K_JOBS, K_DATA, K_RESULTS, K_ERRORS, K_LOCKS = KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10]
local K_META, K_NOTIFY, K_EVENTS = KEYS[11], KEYS[12], KEYS[13]
local K_STAT_DONE, K_STAT_FAIL = KEYS[14], KEYS[15]
local K_DEDUP, K_DEDUP_WIN, K_RATE, K_GROUP_RATE = KEYS[16], KEYS[17], KEYS[18], KEYS[19]
local K_WAITING_CHILDREN, K_CHILD_RESULTS, K_OUTBOX, K_PARENTS = KEYS[20], KEYS[21], KEYS[22], KEYS[23]

-- Redis TIME, so time-in-queue and processing time never depend on a worker's clock.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Priority p in [-500, 500], higher first; FIFO inside a priority through a sequence number.
-- (500 - p) * 2^42 + seq stays below 2^53, so the score is exact in a double.
local SEQ_SPAN = 4398046511104
local function wait_score(p)
  local seq = redis.call('HINCRBY', K_META, 'seq', 1) % SEQ_SPAN
  return (500 - (p or 0)) * SEQ_SPAN + seq
end

local function event(maxlen, kind, id, ...)
  if maxlen > 0 then
    redis.call('XADD', K_EVENTS, 'MAXLEN', '~', maxlen, '*', 'event', kind, 'id', id, ...)
  end
end

-- Stored records are read only through read_meta: decoded with pcall and checked for the
-- fields the scripts use. Redis keeps the writes of a script that fails half-way, so every
-- script reads and checks the records it will touch before its first write (its prologue),
-- and a record it cannot use (another version's format, a hand edit) is failed as corrupt
-- instead of stopping the script part-way through a batch.
local NUMERIC_FIELDS = {'att', 'pri', 'stalls', 'added', 'ready', 'started', 'pending', 'ddt'}
local STRING_FIELDS = {'parent', 'grp', 'dd', 'hs'}
local function read_meta(id)
  local raw = redis.call('HGET', K_JOBS, id)
  if not raw then return nil, 'no record' end
  local ok, m = pcall(cjson.decode, raw)
  if not ok or type(m) ~= 'table' then return nil, 'meta is not a JSON object' end
  if type(m.name) ~= 'string' then return nil, 'meta has no name' end
  if type(m.made) ~= 'number' then return nil, 'meta has no attempt count (made)' end
  for _, f in ipairs(NUMERIC_FIELDS) do
    if m[f] ~= nil and type(m[f]) ~= 'number' then
      return nil, 'meta field ' .. f .. ' is not a number'
    end
  end
  for _, f in ipairs(STRING_FIELDS) do
    if m[f] ~= nil and type(m[f]) ~= 'string' then
      return nil, 'meta field ' .. f .. ' is not a string'
    end
  end
  if m.kids ~= nil and type(m.kids) ~= 'table' then return nil, 'meta field kids is not a list' end
  if m.hs ~= nil and not tonumber(m.hs) then return nil, 'meta field hs is not a score' end
  return m
end

-- The record, or nil when it is missing or unusable (for callers to whom both mean "gone").
local function load_meta(id)
  return (read_meta(id))
end

-- Reads and checks the records of `ids` (the prologue of a script): {id -> meta | false},
-- {id -> problem}.
local function read_all(ids)
  local metas, problems = {}, {}
  for _, id in ipairs(ids) do
    local m, problem = read_meta(id)
    metas[id] = m or false
    if problem then problems[id] = problem end
  end
  return metas, problems
end

local function save_meta(id, m)
  redis.call('HSET', K_JOBS, id, cjson.encode(m))
end

-- A job held back by its group's rate limit returns to the place it had (m.hs, the score
-- as Redis wrote it: cjson would round a number to 14 digits), so held jobs keep their order.
local function to_wait(id, m, now)
  m.state = 'wait'
  m.ready = now
  local score = m.hs or wait_score(m.pri)
  m.hs = nil
  redis.call('ZADD', K_WAIT, score, id)
end

-- A flow child that finished for good tells its parent through this queue's outbox: the
-- parent may live in another queue (another cluster slot), so the worker delivers the entry
-- with child_done.lua on the parent's queue, idempotently, and the sweep retries leftovers.
local function notify_parent(id, m, ok, payload, now)
  if m.parent then
    redis.call('ZADD', K_OUTBOX, now, cjson.encode({c = id, p = m.parent, ok = ok,
      fp = (m.fp ~= false), r = payload}))
  end
end

-- Drop finished jobs beyond a count and an age; their hashes go with them, so memory is bounded.
local function trim_finished(zkey, keep_count, keep_age_ms, now)
  local doomed = {}
  if keep_age_ms >= 0 then
    local old = redis.call('ZRANGEBYSCORE', zkey, '-inf', now - keep_age_ms, 'LIMIT', 0, 1000)
    for _, id in ipairs(old) do doomed[#doomed + 1] = id end
  end
  if keep_count >= 0 then
    local excess = redis.call('ZCARD', zkey) - #doomed - keep_count
    if excess > 0 then
      local extra = redis.call('ZRANGE', zkey, #doomed, #doomed + math.min(excess, 1000) - 1)
      for _, id in ipairs(extra) do doomed[#doomed + 1] = id end
    end
  end
  -- Flow parents keep their children's results in a hash of their own; most queues have none.
  local parents = redis.call('SCARD', K_PARENTS) > 0
  for _, id in ipairs(parents and doomed or {}) do
    if redis.call('SREM', K_PARENTS, id) == 1 then
      local m = load_meta(id)
      if m and type(m.kids) == 'table' then
        for _, kid in ipairs(m.kids) do
          redis.call('HDEL', K_CHILD_RESULTS, id .. '|' .. tostring(kid))
        end
      end
    end
  end
  for i = 1, #doomed, 500 do
    local chunk = {unpack(doomed, i, math.min(i + 499, #doomed))}
    redis.call('ZREM', zkey, unpack(chunk))
    redis.call('HDEL', K_JOBS, unpack(chunk))
    redis.call('HDEL', K_DATA, unpack(chunk))
    redis.call('HDEL', K_RESULTS, unpack(chunk))
    redis.call('HDEL', K_ERRORS, unpack(chunk))
  end
end

-- A job failed for good: into the failed set, its parent told.
local function fail_job(id, m, err, maxlen, now, reason)
  m.state = 'failed'
  m.finished = now
  redis.call('ZADD', K_FAILED, now, id)
  redis.call('HSET', K_ERRORS, id, err)
  event(maxlen, 'failed', id, 'reason', reason)
  notify_parent(id, m, 0, err, now)
end

-- A record no script can use: out of every state set and into `failed` with the reason.
-- The raw text is kept in its error record, and a minimal valid record takes its place (with
-- the name and flow parent when they can still be read, so the parent is told), so listing,
-- retrying and trimming it work as for any failed job. The caller counts and trims.
local function fail_corrupt(id, problem, maxlen, now)
  local raw = redis.call('HGET', K_JOBS, id)
  local m = {name = '?', made = 0, att = 1, stalls = 0, added = now, corrupt = true}
  local ok, old = pcall(cjson.decode, raw or 'null')
  if ok and type(old) == 'table' then
    if type(old.name) == 'string' then m.name = old.name end
    if type(old.parent) == 'string' then
      m.parent = old.parent
      m.fp = old.fp ~= false
    end
    if type(old.kids) == 'table' then m.kids = old.kids end  -- trimming clears their results
  end
  redis.call('ZREM', K_WAIT, id)
  redis.call('ZREM', K_DELAYED, id)
  redis.call('ZREM', K_ACTIVE, id)
  redis.call('ZREM', K_WAITING_CHILDREN, id)
  redis.call('ZREM', K_COMPLETED, id)
  redis.call('HDEL', K_LOCKS, id)
  fail_job(id, m, cjson.encode({type = 'CorruptJobRecord',
    message = 'corrupt job record: ' .. problem, record = raw and string.sub(raw, 1, 2000)}),
    maxlen, now, 'corrupt')
  save_meta(id, m)
end

-- Per-minute counters (hash minute-epoch-seconds -> count), kept for retention_min minutes.
local function count_minute(key, n, now, retention_min)
  if n == 0 then return end
  local minute = math.floor(now / 60000) * 60
  local v = redis.call('HINCRBY', key, minute, n)
  if v == n and redis.call('HLEN', key) > retention_min + 10 then
    local cutoff = minute - retention_min * 60
    for _, f in ipairs(redis.call('HKEYS', key)) do
      if tonumber(f) < cutoff then redis.call('HDEL', key, f) end
    end
  end
end

local function wake(n)
  if n > 0 then
    local tokens = {}
    for i = 1, math.min(n, 32) do tokens[i] = '1' end
    if redis.call('LPUSH', K_NOTIFY, unpack(tokens)) > 64 then
      redis.call('LTRIM', K_NOTIFY, 0, 63)
    end
  end
end

local function is_pending(m)
  return m and (m.state == 'wait' or m.state == 'delayed')
end

-- Deduplication: while the job holding a dedup key has not started (or, with a window, until
-- the window closes) a new job with that key is dropped, or replaces the waiting job's data;
-- with a delay, replace restarts the delay (debounce). Returns the id that holds the key, or nil.
local function deduplicate(m, data_json, delay, maxlen, now)
  local holder = redis.call('HGET', K_DEDUP, m.dd)
  if not holder then return nil end
  local hm = load_meta(holder)
  local window = tonumber(redis.call('ZSCORE', K_DEDUP_WIN, m.dd) or '0')
  if m.ddm == 'replace' and is_pending(hm) then
    redis.call('HSET', K_DATA, holder, data_json)
    if delay > 0 then
      if hm.state == 'wait' then redis.call('ZREM', K_WAIT, holder) end
      hm.state = 'delayed'
      redis.call('ZADD', K_DELAYED, now + delay, holder)
      save_meta(holder, hm)
    end
    if m.ddt then redis.call('ZADD', K_DEDUP_WIN, now + m.ddt, m.dd) end
    event(maxlen, 'deduplicated', holder, 'mode', 'replace')
    return holder
  end
  if is_pending(hm) or window > now then
    event(maxlen, 'deduplicated', holder, 'mode', 'drop')
    return holder
  end
  return nil
end

-- Creates a job unless its id exists (idempotent add). Returns id, created (1|0), ready (1|0).
local function create_job(id, meta_json, data_json, delay, maxlen, now)
  if id == '' then id = tostring(redis.call('HINCRBY', K_META, 'ids', 1)) end
  if redis.call('HEXISTS', K_JOBS, id) == 1 then return id, 0, 0 end
  local m = cjson.decode(meta_json)
  if m.dd then
    local holder = deduplicate(m, data_json, delay, maxlen, now)
    if holder then return holder, 0, 0 end
    redis.call('HSET', K_DEDUP, m.dd, id)
    if m.ddt then
      redis.call('ZADD', K_DEDUP_WIN, now + m.ddt, m.dd)
    else
      redis.call('ZREM', K_DEDUP_WIN, m.dd)
    end
  end
  m.added = now
  m.made = 0
  m.stalls = 0
  redis.call('HSET', K_DATA, id, data_json)
  local ready = 0
  if (m.pending or 0) > 0 then
    m.state = 'waiting-children'
    redis.call('ZADD', K_WAITING_CHILDREN, now, id)
    redis.call('SADD', K_PARENTS, id)
    event(maxlen, 'waiting-children', id, 'children', m.pending)
  elseif delay > 0 then
    m.state = 'delayed'
    redis.call('ZADD', K_DELAYED, now + delay, id)
    event(maxlen, 'delayed', id, 'delay', delay)
  else
    to_wait(id, m, now)
    ready = 1
    event(maxlen, 'added', id)
  end
  save_meta(id, m)
  return id, 1, ready
end

-- A job that starts no longer holds its dedup key, unless a dedup window is still open.
local function release_dedup(id, m, now)
  if m.dd and redis.call('HGET', K_DEDUP, m.dd) == id then
    local window = tonumber(redis.call('ZSCORE', K_DEDUP_WIN, m.dd) or '0')
    if window <= now then
      redis.call('HDEL', K_DEDUP, m.dd)
      redis.call('ZREM', K_DEDUP_WIN, m.dd)
    end
  end
end
