-- ARGV: keep_count, keep_age_ms, events_maxlen, retention_min,
--       then per job: id, token, error_json, retry_delay_ms (-1: do not retry).
-- Returns per job: 'retry', 'failed' or 'lost' (token mismatch), then processing ms.
local keep, keep_age, maxlen, retention = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local now = now_ms()
local out, failed, ready = {}, 0, 0
for i = 5, #ARGV, 4 do
  local id, token, err, delay = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3])
  if redis.call('HGET', K_LOCKS, id) == token then
    local m = load_meta(id)
    redis.call('HDEL', K_LOCKS, id)
    redis.call('ZREM', K_ACTIVE, id)
    redis.call('HSET', K_ERRORS, id, err)
    local took = now - m.started
    if delay >= 0 and m.made < (m.att or 1) then
      if delay > 0 then
        m.state = 'delayed'
        redis.call('ZADD', K_DELAYED, now + delay, id)
      else
        to_wait(id, m, now)
        ready = ready + 1
      end
      event(maxlen, 'retrying', id, 'attempt', m.made, 'delay', delay)
      out[#out + 1] = 'retry'
    else
      m.state = 'failed'
      m.finished = now
      redis.call('ZADD', K_FAILED, now, id)
      event(maxlen, 'failed', id, 'attempt', m.made)
      failed = failed + 1
      out[#out + 1] = 'failed'
    end
    save_meta(id, m)
    out[#out + 1] = took
  else
    out[#out + 1] = 'lost'
    out[#out + 1] = -1
  end
end
count_minute(K_STAT_FAIL, failed, now, retention)
if failed > 0 then trim_finished(K_FAILED, keep, keep_age, now) end
wake(ready)
return out
