-- One round trip for a worker: acknowledge completed jobs, record failed ones, fetch more.
-- ARGV: n_completed, n_failed, keep_completed, keep_completed_age_ms, keep_failed,
--       keep_failed_age_ms, events_maxlen, retention_min, fetch_count, token, lease_ms,
--       worker_id, then n_completed x (id, token, result_json),
--       then n_failed x (id, token, error_json, retry_delay_ms (-1: do not retry)).
-- Returns {completed, failed, fetched, flow}:
--   completed: processing ms (Redis clock) per job, -1 when its lease was lost, -2 when its
--              record was corrupt (it was failed instead);
--   failed: per job 'retry' | 'failed' | 'lost' | 'corrupt', then processing ms;
--   fetched: {ms until next delayed job (-1 none), paused, ms until the rate limit frees a
--             slot (0 not limited), jobs held back by group limits, id, meta, data, wait_ms, ...};
--   flow: outbox entries written for parents (the worker delivers them next).
-- Corrupt records met while fetching go to `failed` (counted in the failed per-minute stats).
local n_done, n_fail = tonumber(ARGV[1]), tonumber(ARGV[2])
local keep_c, keep_c_age = tonumber(ARGV[3]), tonumber(ARGV[4])
local keep_f, keep_f_age = tonumber(ARGV[5]), tonumber(ARGV[6])
local maxlen, retention = tonumber(ARGV[7]), tonumber(ARGV[8])
local count, token, lease, worker = tonumber(ARGV[9]), ARGV[10], tonumber(ARGV[11]), ARGV[12]
local now = now_ms()
local done_base, fail_base = 13, 13 + 3 * n_done

-- Prologue: read and check every record this call settles or promotes, before any write.
local settling = {}
for i = done_base, fail_base - 1, 3 do settling[#settling + 1] = ARGV[i] end
for i = fail_base, fail_base + 4 * n_fail - 1, 4 do settling[#settling + 1] = ARGV[i] end
local metas, problems = read_all(settling)
local due = redis.call('ZRANGEBYSCORE', K_DELAYED, '-inf', now, 'LIMIT', 0, 1000)
local due_metas, due_problems = read_all(due)
local outbox_before = redis.call('ZCARD', K_OUTBOX)

-- Completed jobs.
local done_out, done, failed, ready = {}, 0, 0, 0
for i = done_base, fail_base - 1, 3 do
  local id, tok = ARGV[i], ARGV[i + 1]
  if redis.call('HGET', K_LOCKS, id) ~= tok then
    done_out[#done_out + 1] = -1
  elseif problems[id] then
    fail_corrupt(id, problems[id], maxlen, now)
    failed = failed + 1
    done_out[#done_out + 1] = -2
  else
    local m = metas[id]
    redis.call('HDEL', K_LOCKS, id)
    redis.call('ZREM', K_ACTIVE, id)
    m.state = 'completed'
    m.finished = now
    save_meta(id, m)
    -- A job that returned nothing stores nothing: get_job reads a missing result as None.
    if ARGV[i + 2] ~= 'null' then redis.call('HSET', K_RESULTS, id, ARGV[i + 2]) end
    redis.call('ZADD', K_COMPLETED, now, id)
    event(maxlen, 'completed', id)
    notify_parent(id, m, 1, ARGV[i + 2], now)
    done = done + 1
    done_out[#done_out + 1] = now - (m.started or now)
  end
end
count_minute(K_STAT_DONE, done, now, retention)
if done > 0 then trim_finished(K_COMPLETED, keep_c, keep_c_age, now) end

-- Failed jobs: retry (delayed by the backoff the worker computed) or fail for good.
local fail_out = {}
for i = fail_base, fail_base + 4 * n_fail - 1, 4 do
  local id, tok, err, delay = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3])
  if redis.call('HGET', K_LOCKS, id) ~= tok then
    fail_out[#fail_out + 1] = 'lost'
    fail_out[#fail_out + 1] = -1
  elseif problems[id] then
    fail_corrupt(id, problems[id], maxlen, now)
    failed = failed + 1
    fail_out[#fail_out + 1] = 'corrupt'
    fail_out[#fail_out + 1] = -1
  else
    local m = metas[id]
    redis.call('HDEL', K_LOCKS, id)
    redis.call('ZREM', K_ACTIVE, id)
    local took = now - (m.started or now)
    if delay >= 0 and m.made < (m.att or 1) then
      redis.call('HSET', K_ERRORS, id, err)
      if delay > 0 then
        m.state = 'delayed'
        redis.call('ZADD', K_DELAYED, now + delay, id)
      else
        to_wait(id, m, now)
        ready = ready + 1
      end
      event(maxlen, 'retrying', id, 'attempt', m.made, 'delay', delay)
      fail_out[#fail_out + 1] = 'retry'
    else
      fail_job(id, m, err, maxlen, now, 'error')
      failed = failed + 1
      fail_out[#fail_out + 1] = 'failed'
    end
    save_meta(id, m)
    fail_out[#fail_out + 1] = took
  end
end

-- Delayed jobs that fell due go back to waiting.
for _, id in ipairs(due) do
  if due_problems[id] then
    fail_corrupt(id, due_problems[id], maxlen, now)
    failed = failed + 1
  else
    local m = due_metas[id]
    redis.call('ZREM', K_DELAYED, id)
    to_wait(id, m, now)
    save_meta(id, m)
    event(maxlen, 'waiting', id)
  end
end
wake(ready)

-- Fetch prologue: the jobs this call would lease, and their records, read before it writes.
local out = {-1, 0, 0, 0}
if redis.call('HGET', K_META, 'paused') == '1' then
  out[2] = 1
  count = 0
end
-- Global rate limit: a sliding log of fetch times shared by every worker of the queue.
local limits = redis.call('HMGET', K_META, 'rl_max', 'rl_ms', 'grl_max', 'grl_ms')
local rl_max, rl_ms = tonumber(limits[1] or '0'), tonumber(limits[2] or '0')
local grl_max, grl_ms = tonumber(limits[3] or '0'), tonumber(limits[4] or '0')
if rl_max > 0 and count > 0 then
  local since = string.format('(%d', now - rl_ms)
  local free = rl_max - redis.call('ZCOUNT', K_RATE, since, '+inf')
  if free < count and redis.call('ZCARD', K_WAIT) > math.max(free, 0) then
    local oldest = redis.call('ZRANGEBYSCORE', K_RATE, since, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
    out[3] = oldest[2] and math.max(1, tonumber(oldest[2]) + rl_ms - now + 1) or 1
  end
  count = math.max(0, math.min(count, free))
end
local picked, place = {}, {}
if count > 0 then
  local ranked = redis.call('ZRANGE', K_WAIT, 0, count - 1, 'WITHSCORES')
  for i = 1, #ranked, 2 do
    picked[#picked + 1] = ranked[i]
    place[ranked[i]] = ranked[i + 1]
  end
end
local picked_metas, picked_problems = read_all(picked)

-- Fetch: lease the picked jobs (group limits may hold some back), fail corrupt ones.
if rl_max > 0 and count > 0 then redis.call('ZREMRANGEBYSCORE', K_RATE, '-inf', now - rl_ms) end
if #picked > 0 then redis.call('ZREM', K_WAIT, unpack(picked)) end
local held = 0
for _, id in ipairs(picked) do
  local m = picked_metas[id]
  local allowed = m ~= false
  if not allowed then
    fail_corrupt(id, picked_problems[id], maxlen, now)
    failed = failed + 1
  end
  -- Per-group limit (e.g. per tenant): a job over its group's budget waits until it frees.
  if allowed and m.grp and grl_max > 0 then
    local raw = redis.call('HGET', K_GROUP_RATE, m.grp)
    local ok, log = pcall(cjson.decode, raw or '[]')
    local kept = {}
    for _, t in ipairs((ok and type(log) == 'table') and log or {}) do
      if type(t) == 'number' and t > now - grl_ms then kept[#kept + 1] = t end
    end
    if #kept >= grl_max then
      allowed = false
      m.state = 'delayed'
      m.hs = place[id]  -- back to the same place in `wait` (to_wait), so FIFO holds
      redis.call('ZADD', K_DELAYED, kept[1] + grl_ms + 1, id)
      save_meta(id, m)
      held = held + 1
    else
      kept[#kept + 1] = now
      redis.call('HSET', K_GROUP_RATE, m.grp, cjson.encode(kept))
    end
  end
  if allowed then
    m.state = 'active'
    m.made = m.made + 1
    m.started = now
    m.worker = worker
    release_dedup(id, m, now)
    local raw = cjson.encode(m)
    redis.call('HSET', K_JOBS, id, raw)
    redis.call('HSET', K_LOCKS, id, token)
    redis.call('ZADD', K_ACTIVE, now + lease, id)
    if rl_max > 0 then redis.call('ZADD', K_RATE, now, id .. '@' .. now) end
    event(maxlen, 'active', id, 'worker', worker)
    out[#out + 1] = id
    out[#out + 1] = raw
    out[#out + 1] = redis.call('HGET', K_DATA, id) or 'null'
    out[#out + 1] = now - (m.ready or m.added or now)
  end
end
out[4] = held
if count > 0 and redis.call('ZCARD', K_WAIT) == 0 then redis.call('DEL', K_NOTIFY) end

count_minute(K_STAT_FAIL, failed, now, retention)
if failed > 0 then trim_finished(K_FAILED, keep_f, keep_f_age, now) end
local flow = redis.call('ZCARD', K_OUTBOX) - outbox_before
local nxt = redis.call('ZRANGE', K_DELAYED, 0, 0, 'WITHSCORES')
if nxt[2] then out[1] = math.max(0, tonumber(nxt[2]) - now) end
return {done_out, fail_out, out, flow}
