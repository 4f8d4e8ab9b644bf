-- Runs on the PARENT's queue. ARGV: parent_id, child_ref (queue:id), ok (1|0),
-- fail_parent (1|0), payload (result or error JSON), events_maxlen, keep_failed,
-- keep_failed_age_ms, retention_min.
-- Idempotent: a child is counted once however often its outbox entry is delivered.
-- Returns 'dup' | 'missing' (parent not created yet: deliver again later) | 'waiting' |
-- 'ready' | 'failed' (also when the parent's record is corrupt) | 'gone' (parent no longer
-- waits for children).
local pid, ref, ok, fp, payload = ARGV[1], ARGV[2], ARGV[3] == '1', ARGV[4] == '1', ARGV[5]
local maxlen, keep, keep_age, retention = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local field = pid .. '|' .. ref

-- Prologue: the parent's record, read and checked before any write.
local m, problem = read_meta(pid)
if problem == 'no record' then return 'missing' end
if redis.call('HEXISTS', K_CHILD_RESULTS, field) == 1 then return 'dup' end

local now = now_ms()
redis.call('HSET', K_CHILD_RESULTS, field, (ok and '1' or '0') .. payload)
if problem then
  fail_corrupt(pid, problem, maxlen, now)
  count_minute(K_STAT_FAIL, 1, now, retention)
  trim_finished(K_FAILED, keep, keep_age, now)
  return 'failed'
end
if m.state ~= 'waiting-children' then return 'gone' end
if not ok and fp then
  redis.call('ZREM', K_WAITING_CHILDREN, pid)
  fail_job(pid, m, cjson.encode({type = 'ChildFailedError',
    message = 'child ' .. ref .. ' failed', child = ref}), maxlen, now, 'child-failed')
  save_meta(pid, m)
  count_minute(K_STAT_FAIL, 1, now, retention)
  trim_finished(K_FAILED, keep, keep_age, now)
  return 'failed'
end
m.pending = (m.pending or 1) - 1
if m.pending <= 0 then
  redis.call('ZREM', K_WAITING_CHILDREN, pid)
  to_wait(pid, m, now)
  event(maxlen, 'children-done', pid)
  save_meta(pid, m)
  wake(1)
  return 'ready'
end
save_meta(pid, m)
return 'waiting'
