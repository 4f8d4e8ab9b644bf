-- ARGV: max_stalls, limit, events_maxlen, keep_failed, keep_failed_age_ms, retention_min.
-- Jobs whose lease expired (their worker died or froze) go back to waiting at once; a job
-- that stalled more than max_stalls times fails, and so does one whose record is corrupt.
-- A stall does not use up an attempt. Also closes expired dedup windows.
-- Returns {requeued, failed, outbox entries pending}.
local max_stalls, limit, maxlen = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local keep, keep_age, retention = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local now = now_ms()

-- Prologue: the expired leases and their records, read and checked before any write.
local expired = redis.call('ZRANGEBYSCORE', K_ACTIVE, '-inf', now, 'LIMIT', 0, limit)
local metas, problems = read_all(expired)

local requeued, failed = 0, 0
for _, id in ipairs(expired) do
  if problems[id] then
    fail_corrupt(id, problems[id], maxlen, now)
    failed = failed + 1
  else
    local m = metas[id]
    redis.call('ZREM', K_ACTIVE, id)
    redis.call('HDEL', K_LOCKS, id)
    m.stalls = (m.stalls or 0) + 1
    m.made = math.max(0, m.made - 1)
    if m.stalls > max_stalls then
      fail_job(id, m, cjson.encode({type = 'StalledJobError',
        message = 'job stalled ' .. m.stalls .. ' times (its worker died or lost its lease)'}),
        maxlen, now, 'stalled')
      failed = failed + 1
    else
      to_wait(id, m, now)
      event(maxlen, 'stalled', id, 'stalls', m.stalls)
      requeued = requeued + 1
    end
    save_meta(id, m)
  end
end
count_minute(K_STAT_FAIL, failed, now, retention)
if failed > 0 then trim_finished(K_FAILED, keep, keep_age, now) end
wake(requeued)

for _, key in ipairs(redis.call('ZRANGEBYSCORE', K_DEDUP_WIN, '-inf', now, 'LIMIT', 0, 500)) do
  redis.call('ZREM', K_DEDUP_WIN, key)
  local holder = redis.call('HGET', K_DEDUP, key)
  if holder and not is_pending(load_meta(holder)) then redis.call('HDEL', K_DEDUP, key) end
end
return {requeued, failed, redis.call('ZCARD', K_OUTBOX)}
