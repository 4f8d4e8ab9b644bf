-- ARGV: events_maxlen, then per job: id ('' = assign), meta_json, data_json, delay_ms.
-- Returns a flat list id, created(1|0) per job. An existing id is left untouched (idempotent).
local maxlen = tonumber(ARGV[1])
local now = now_ms()
local out, ready, delayed = {}, 0, 0
for i = 2, #ARGV, 4 do
  local id, created, is_ready = create_job(ARGV[i], ARGV[i + 1], ARGV[i + 2],
    tonumber(ARGV[i + 3]), maxlen, now)
  out[#out + 1] = id
  out[#out + 1] = created
  ready = ready + is_ready
  delayed = delayed + created - is_ready
end
-- A new delayed job may fall due sooner than an idle worker sleeps: wake one to re-plan.
wake(ready + math.min(delayed, 1))
return out
