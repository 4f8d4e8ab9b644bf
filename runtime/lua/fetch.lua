-- ARGV: count, token, lease_ms, worker_id, events_maxlen.
-- Promotes due delayed jobs, then moves up to `count` waiting jobs to active under a lease.
-- Returns {ms_until_next_delayed (-1 none), paused(0|1), id, meta_json, data_json, wait_ms, ...}.
local count, token, lease = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local worker, maxlen = ARGV[4], tonumber(ARGV[5])
local now = now_ms()

local due = redis.call('ZRANGEBYSCORE', K_DELAYED, '-inf', now, 'LIMIT', 0, 1000)
for _, id in ipairs(due) do
  redis.call('ZREM', K_DELAYED, id)
  local m = load_meta(id)
  if m then
    to_wait(id, m, now)
    save_meta(id, m)
    event(maxlen, 'waiting', id)
  end
end

local out = {-1, 0}
local nxt = redis.call('ZRANGE', K_DELAYED, 0, 0, 'WITHSCORES')
if nxt[2] then out[1] = math.max(0, tonumber(nxt[2]) - now) end
if redis.call('HGET', K_META, 'paused') == '1' then
  out[2] = 1
  return out
end
if count <= 0 then return out end

local popped = redis.call('ZPOPMIN', K_WAIT, count)
for i = 1, #popped, 2 do
  local id = popped[i]
  local m = load_meta(id)
  if m then
    m.state = 'active'
    m.made = m.made + 1
    m.started = now
    m.worker = worker
    local raw = cjson.encode(m)
    redis.call('HSET', K_JOBS, id, raw)
    redis.call('HSET', K_LOCKS, id, token)
    redis.call('ZADD', K_ACTIVE, now + lease, id)
    event(maxlen, 'active', id, 'worker', worker)
    out[#out + 1] = id
    out[#out + 1] = raw
    out[#out + 1] = redis.call('HGET', K_DATA, id) or 'null'
    out[#out + 1] = now - (m.ready or m.added)
  end
end
if redis.call('ZCARD', K_WAIT) == 0 then redis.call('DEL', K_NOTIFY) end
return out
