-- Shared by every queue script (prepended by runtime/scripts.py). Every key a script may touch
-- is declared in KEYS in this fixed order, so no key name is ever built inside Lua.
local K_WAIT, K_DELAYED, K_ACTIVE, K_COMPLETED, K_FAILED = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local K_JOBS, K_DATA, K_RESULTS, K_ERRORS, K_LOCKS = KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10]
local K_META, K_NOTIFY, K_EVENTS = KEYS[11], KEYS[12], KEYS[13]
local K_STAT_DONE, K_STAT_FAIL = KEYS[14], KEYS[15]

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

local function load_meta(id)
  local raw = redis.call('HGET', K_JOBS, id)
  if not raw then return nil end
  return cjson.decode(raw)
end

local function save_meta(id, m)
  redis.call('HSET', K_JOBS, id, cjson.encode(m))
end

local function to_wait(id, m, now)
  m.state = 'wait'
  m.ready = now
  redis.call('ZADD', K_WAIT, wait_score(m.pri), id)
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
  for i = 1, #doomed, 500 do
    local chunk = {unpack(doomed, i, math.min(i + 499, #doomed))}
    redis.call('ZREM', zkey, unpack(chunk))
    redis.call('HDEL', K_JOBS, unpack(chunk))
    redis.call('HDEL', K_DATA, unpack(chunk))
    redis.call('HDEL', K_RESULTS, unpack(chunk))
    redis.call('HDEL', K_ERRORS, unpack(chunk))
  end
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
    redis.call('LPUSH', K_NOTIFY, unpack(tokens))
    redis.call('LTRIM', K_NOTIFY, 0, 63)
  end
end

-- Creates a job unless its id exists (idempotent add). Returns id, created (1|0), ready (1|0).
local function create_job(id, meta_json, data_json, delay, maxlen, now)
  if id == '' then id = tostring(redis.call('HINCRBY', K_META, 'ids', 1)) end
  if redis.call('HEXISTS', K_JOBS, id) == 1 then return id, 0, 0 end
  local m = cjson.decode(meta_json)
  m.added = now
  m.made = 0
  m.stalls = 0
  redis.call('HSET', K_DATA, id, data_json)
  local ready = 0
  if delay > 0 then
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
