-- KEYS: the queue's keys (QueueKeys.script_keys), then its schedules (hash id -> spec JSON)
-- and schedules:fired (hash id -> last fired tick, epoch ms) as the last two.
-- ARGV: schedule id, the spec JSON and the mark ('' = none) the scheduler computed from, the
-- new mark, events_maxlen, meta_json, data_json, delay_ms, then the ticks to fire (epoch ms,
-- ascending).
-- Compare-and-set: if the spec or the mark changed since the scheduler read them, another
-- scheduler got there first (or the schedule was edited or removed): nothing happens and it
-- returns -1. Otherwise it creates the job sched:<id>:<tick> for each tick strictly after the
-- mark, moves the mark forward, and returns the number of jobs created. However many
-- schedulers race for a tick, it fires once.
local K_SCHEDULES, K_FIRED = KEYS[#KEYS - 1], KEYS[#KEYS]
local id, spec, expected, new_mark = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local maxlen, meta, data, delay = tonumber(ARGV[5]), ARGV[6], ARGV[7], tonumber(ARGV[8])
if redis.call('HGET', K_SCHEDULES, id) ~= spec then return -1 end
local mark = redis.call('HGET', K_FIRED, id)
if (mark or '') ~= expected then return -1 end
local last = tonumber(mark or '-1')
local now = now_ms()
local fired, ready = 0, 0
for i = 9, #ARGV do
  local tick = tonumber(ARGV[i])
  if tick > last then
    local _, created, is_ready = create_job('sched:' .. id .. ':' .. ARGV[i], meta, data, delay,
      maxlen, now)
    fired = fired + created
    ready = ready + is_ready
    last = tick
  end
end
if new_mark > last then last = new_mark end
redis.call('HSET', K_FIRED, id, string.format('%d', last))
-- Like add.lua: a delayed job may fall due sooner than an idle worker sleeps.
wake(ready + math.min(fired - ready, 1))
return fired
