-- ARGV: lease_ms, then pairs id, token. Renews the lease of every job still held with that token.
-- Returns the ids whose lease was lost (reclaimed by the stall sweep, or finished elsewhere).
local lease = tonumber(ARGV[1])
local deadline = now_ms() + lease
local lost = {}
for i = 2, #ARGV, 2 do
  if redis.call('HGET', K_LOCKS, ARGV[i]) == ARGV[i + 1] then
    redis.call('ZADD', K_ACTIVE, 'XX', deadline, ARGV[i])
  else
    lost[#lost + 1] = ARGV[i]
  end
end
return lost
