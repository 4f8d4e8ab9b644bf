-- KEYS: the queue's keys, then schedules (hash id -> spec) and schedules:fired (hash id ->
-- last fired tick, ms). ARGV: schedule id, events_maxlen, meta_json, data_json, then the due
-- ticks (epoch ms, ascending). Fires each tick strictly after the last fired one, as a job
-- with the id sched:<id>:<tick>, and advances the mark: however many schedulers call this
-- for the same tick, it fires once. Returns the number of jobs created.
local K_SCHEDULES, K_FIRED = KEYS[24], KEYS[25]
local id, maxlen, meta, data = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
if redis.call('HEXISTS', K_SCHEDULES, id) == 0 then return 0 end
local last = tonumber(redis.call('HGET', K_FIRED, id) or '0')
local now = now_ms()
local fired, ready = 0, 0
for i = 5, #ARGV do
  local tick = tonumber(ARGV[i])
  if tick > last then
    local _, created, is_ready = create_job('sched:' .. id .. ':' .. ARGV[i], meta, data, 0,
      maxlen, now)
    fired = fired + created
    ready = ready + is_ready
    last = tick
  end
end
redis.call('HSET', K_FIRED, id, string.format('%d', last))
wake(ready)
return fired
