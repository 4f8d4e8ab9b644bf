-- ARGV: keep_count, keep_age_ms, events_maxlen, retention_min, then per job: id, token, result_json.
-- Returns per job: processing ms from Redis TIME, or -1 when the lease was lost (token mismatch).
local keep, keep_age, maxlen, retention = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local now = now_ms()
local out, done = {}, 0
for i = 5, #ARGV, 3 do
  local id, token = ARGV[i], ARGV[i + 1]
  if redis.call('HGET', K_LOCKS, id) == token then
    local m = load_meta(id)
    redis.call('HDEL', K_LOCKS, id)
    redis.call('ZREM', K_ACTIVE, id)
    m.state = 'completed'
    m.finished = now
    save_meta(id, m)
    redis.call('HSET', K_RESULTS, id, ARGV[i + 2])
    redis.call('ZADD', K_COMPLETED, now, id)
    event(maxlen, 'completed', id)
    done = done + 1
    out[#out + 1] = now - m.started
  else
    out[#out + 1] = -1
  end
end
count_minute(K_STAT_DONE, done, now, retention)
if done > 0 then trim_finished(K_COMPLETED, keep, keep_age, now) end
return out
