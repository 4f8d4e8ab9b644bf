-- The common add, lean: jobs that are ready at once (no delay, no dedup key, not part of a
-- flow). Runs without the shared prelude, on the 6 keys it touches, so a single add costs
-- Redis about 30 % less than add.lua with the queue's 23 keys; a chunk of jobs is written
-- with one HSET/ZADD per key instead of one call per job. The records it writes are those
-- add.lua writes for the same jobs (tests/runtime/test_add_ready.py compares them).
-- KEYS (runtime/keys.py: QueueKeys.ready_add_keys): wait, jobs, data, meta, notify, events.
-- ARGV: events_maxlen, then per job: id ('' = assign), meta_json (a JSON object without the
--       fields this script sets: added, made, stalls, state, ready), data_json, priority.
-- Returns a flat list id, created(1|0) per job, like add.lua. An existing id is left
-- untouched (idempotent), and so is a repeat of an id earlier in the same call.
local K_WAIT, K_JOBS, K_DATA, K_META, K_NOTIFY, K_EVENTS = KEYS[1], KEYS[2], KEYS[3], KEYS[4],
  KEYS[5], KEYS[6]
local SEQ_SPAN = 4398046511104  -- as in _prelude.lua: (500 - p) * 2^42 + seq < 2^53

-- Prologue: every argument checked before the first write (Redis keeps the writes of a
-- script that fails half-way).
local maxlen = tonumber(ARGV[1])
if not maxlen or #ARGV < 5 or (#ARGV - 1) % 4 ~= 0 then
  return redis.error_reply('add_ready: bad argument count')
end
local auto = 0
for i = 2, #ARGV, 4 do
  local p, meta = tonumber(ARGV[i + 3]), ARGV[i + 1]
  if not p or p < -500 or p > 500 or p ~= math.floor(p) then
    return redis.error_reply('add_ready: bad priority ' .. tostring(ARGV[i + 3]))
  end
  if string.sub(meta, 1, 1) ~= '{' or string.sub(meta, -1) ~= '}' or #meta < 3 then
    return redis.error_reply('add_ready: meta is not a non-empty JSON object')
  end
  if ARGV[i] == '' then auto = auto + 1 end
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local next_id = 0
if auto > 0 then next_id = redis.call('HINCRBY', K_META, 'ids', auto) - auto end
local ids = {}
for i = 2, #ARGV, 4 do
  local id = ARGV[i]
  if id == '' then
    next_id = next_id + 1
    id = tostring(next_id)
  end
  ids[#ids + 1] = id
end

-- HSETNX both checks that the id is new and writes its record, in one call per job.
local out, fresh = {}, {}
local tail = ',"added":' .. now .. ',"made":0,"stalls":0,"state":"wait","ready":' .. now .. '}'
for j, id in ipairs(ids) do
  out[#out + 1] = id
  if redis.call('HSETNX', K_JOBS, id, string.sub(ARGV[4 * j - 1], 1, -2) .. tail) == 1 then
    fresh[#fresh + 1] = j
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
if #fresh == 0 then return out end

local seq = redis.call('HINCRBY', K_META, 'seq', #fresh) - #fresh
local data, wait = {}, {}
for _, j in ipairs(fresh) do
  local id = ids[j]
  seq = seq + 1
  data[#data + 1] = id
  data[#data + 1] = ARGV[4 * j]
  wait[#wait + 1] = (500 - tonumber(ARGV[4 * j + 1])) * SEQ_SPAN + seq % SEQ_SPAN
  wait[#wait + 1] = id
end
redis.call('HSET', K_DATA, unpack(data))
redis.call('ZADD', K_WAIT, unpack(wait))
if maxlen > 0 then
  for _, j in ipairs(fresh) do
    redis.call('XADD', K_EVENTS, 'MAXLEN', '~', maxlen, '*', 'event', 'added', 'id', ids[j])
  end
end
-- Wake idle workers: a token per ready job (at most 32 per call), the list capped at 64.
local tokens = {}
for i = 1, math.min(#fresh, 32) do tokens[i] = '1' end
if redis.call('LPUSH', K_NOTIFY, unpack(tokens)) > 64 then redis.call('LTRIM', K_NOTIFY, 0, 63) end
return out
