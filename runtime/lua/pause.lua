-- ARGV: paused (1|0). Resuming wakes blocked workers.
if ARGV[1] == '1' then
  redis.call('HSET', K_META, 'paused', '1')
else
  redis.call('HDEL', K_META, 'paused')
  wake(32)
end
return 1
