-- ARGV: events_maxlen, then per job: id ('' = assign), meta_json, data_json, delay_ms.
-- Returns a flat list id, created(1|0) per job. An existing id is left untouched (idempotent).
local maxlen = tonumber(ARGV[1])
local now = now_ms()
local out, ready = {}, 0
for i = 2, #ARGV, 4 do
  local id, delay = ARGV[i], tonumber(ARGV[i + 3])
  if id == '' then id = tostring(redis.call('HINCRBY', K_META, 'ids', 1)) end
  if redis.call('HEXISTS', K_JOBS, id) == 1 then
    out[#out + 1] = id; out[#out + 1] = 0
  else
    local m = cjson.decode(ARGV[i + 1])
    m.added = now
    m.made = 0
    m.stalls = 0
    redis.call('HSET', K_DATA, id, ARGV[i + 2])
    if delay > 0 then
      m.state = 'delayed'
      redis.call('ZADD', K_DELAYED, now + delay, id)
      event(maxlen, 'delayed', id, 'delay', delay)
    else
      to_wait(id, m, now)
      ready = ready + 1
      event(maxlen, 'added', id)
    end
    save_meta(id, m)
    out[#out + 1] = id; out[#out + 1] = 1
  end
end
-- A delayed job may be due sooner than what an idle worker sleeps for: wake one to re-plan.
wake(math.max(ready, (#out > 0 and ready == 0) and 1 or 0))
return out
