-- ARGV: events_maxlen, limit, then job ids (none: the oldest `limit` failed jobs).
-- Failed jobs go back to waiting with a fresh set of attempts; one whose record cannot be
-- read stays in `failed`. Returns the ids moved.
local maxlen, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local now = now_ms()

-- Prologue: the candidates and their records, read and checked before any write.
local ids = {}
if #ARGV > 2 then
  for i = 3, #ARGV do ids[#ids + 1] = ARGV[i] end
else
  ids = redis.call('ZRANGE', K_FAILED, 0, limit - 1)
end
local metas = read_all(ids)

local moved = {}
for _, id in ipairs(ids) do
  local m = metas[id]
  if m and redis.call('ZREM', K_FAILED, id) == 1 then
    m.made = 0
    m.stalls = 0
    m.finished = nil
    to_wait(id, m, now)
    save_meta(id, m)
    event(maxlen, 'retried', id)
    moved[#moved + 1] = id
  end
end
wake(#moved)
return moved
