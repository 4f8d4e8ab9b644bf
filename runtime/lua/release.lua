-- ARGV: events_maxlen, then pairs id, token. Hands jobs a stopping worker still holds back to
-- waiting at once (graceful shutdown); the interrupted run does not count as an attempt.
-- A job whose record is corrupt goes to `failed` instead. Returns the number handed back.
local maxlen = tonumber(ARGV[1])
local now = now_ms()

-- Prologue: the records, read and checked before any write.
local ids = {}
for i = 2, #ARGV, 2 do ids[#ids + 1] = ARGV[i] end
local metas, problems = read_all(ids)

local n = 0
for i = 2, #ARGV, 2 do
  local id = ARGV[i]
  if redis.call('HGET', K_LOCKS, id) == ARGV[i + 1] then
    if problems[id] then
      fail_corrupt(id, problems[id], maxlen, now)
    else
      local m = metas[id]
      redis.call('HDEL', K_LOCKS, id)
      redis.call('ZREM', K_ACTIVE, id)
      m.made = math.max(0, m.made - 1)
      to_wait(id, m, now)
      save_meta(id, m)
      event(maxlen, 'released', id)
      n = n + 1
    end
  end
end
wake(n)
return n
