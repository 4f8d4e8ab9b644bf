"""The cache's Lua scripts. Every key a script touches is declared in KEYS (built in Python,
never inside Lua) and shares the cache's hash tag, so each script is atomic on one node and
runs unchanged on Redis Cluster. Invalidations publish from inside the script, so the
notification is atomic with the deletion."""

from __future__ import annotations

from typing import Any

# Tag sets are kept alive as long as their longest-lived member; a member that expired on
# its own stays in the set until the set expires, which only makes invalidation delete a key
# that is already gone.
_TAG_HELPER = """
local function add_tags(first_tag, members, px)
  if #members == 0 then return end
  for j = first_tag, #KEYS do
    for c = 1, #members, 1000 do
      redis.call('SADD', KEYS[j], unpack(members, c, math.min(c + 999, #members)))
    end
    if redis.call('PTTL', KEYS[j]) < px then redis.call('PEXPIRE', KEYS[j], px) end
  end
end
"""

# KEYS: value keys (n), then tag keys. ARGV: n, nx, channel, message, then per value
# (member, payload, px). Publishes only if a key that existed was overwritten: a process can
# only hold an in-process copy of a key that exists.
SET_MANY = (
    _TAG_HELPER
    + """
local n = tonumber(ARGV[1])
local nx = ARGV[2] == '1'
local written, existed, maxpx = {}, false, 0
for i = 1, n do
  local member, payload, px = ARGV[3 + 3 * i - 1], ARGV[3 + 3 * i], tonumber(ARGV[4 + 3 * i])
  local ok
  if nx then
    ok = redis.call('SET', KEYS[i], payload, 'PX', px, 'NX')
  else
    if redis.call('EXISTS', KEYS[i]) == 1 then existed = true end
    ok = redis.call('SET', KEYS[i], payload, 'PX', px)
  end
  if ok then
    written[#written + 1] = member
    if px > maxpx then maxpx = px end
  end
end
add_tags(n + 1, written, maxpx)
if existed and ARGV[3] ~= '' then redis.call('PUBLISH', ARGV[3], ARGV[4]) end
return #written
"""
)

# KEYS: value, lock, epoch, tag keys. ARGV: payload, px, token, epoch seen at lock time,
# member, channel, message. Writes only if this caller still holds the lock and no tag
# invalidation happened since it took it (else an invalidation could be undone by a load that
# read the source before it). Returns 1 written, 0 lock lost, -1 invalidated meanwhile.
FILL = (
    _TAG_HELPER
    + """
if redis.call('GET', KEYS[2]) ~= ARGV[3] then return 0 end
redis.call('DEL', KEYS[2])
if (redis.call('GET', KEYS[3]) or '0') ~= ARGV[4] then return -1 end
local existed = redis.call('EXISTS', KEYS[1]) == 1
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
add_tags(4, {ARGV[5]}, tonumber(ARGV[2]))
if existed and ARGV[6] ~= '' then redis.call('PUBLISH', ARGV[6], ARGV[7]) end
return 1
"""
)

# KEYS: value, lock, epoch. ARGV: token, lock px.
# Returns {1, value} | {2, epoch} (lock taken: load now) | {0} (someone else is loading).
FETCH_OR_LOCK = """
local v = redis.call('GET', KEYS[1])
if v then return {1, v} end
if redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2], 'NX') then
  return {2, redis.call('GET', KEYS[3]) or '0'}
end
return {0}
"""

# KEYS: lock, epoch. ARGV: token, px. Returns the epoch when the lock was taken, else false.
ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then
  return redis.call('GET', KEYS[2]) or '0'
end
return false
"""

# KEYS: lock. ARGV: token. Releases only our own lock.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS: value keys (n), then their lock keys (n). ARGV: n, channel, message.
# Deleting the lock makes an in-flight load of the key unable to write its (older) value.
DELETE = """
local n = tonumber(ARGV[1])
local removed = 0
for c = 1, n, 1000 do
  removed = removed + redis.call('DEL', unpack(KEYS, c, math.min(c + 999, n)))
end
for c = n + 1, 2 * n, 1000 do
  redis.call('DEL', unpack(KEYS, c, math.min(c + 999, 2 * n)))
end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return removed
"""

# KEYS: epoch, tag keys (m), value keys (n). ARGV: m, n, channel, message, then the n
# members (user keys) matching the value keys. Optimistic: the caller declares the members it
# believes the tags hold; if the sets hold others, nothing changes and they are returned so the
# caller can declare them too. Otherwise every tagged key and the tag sets go in one atomic
# step, the epoch is bumped (in-flight loads may not write) and every process is told.
INVALIDATE_TAGS = """
local m, n = tonumber(ARGV[1]), tonumber(ARGV[2])
local declared = {}
for i = 1, n do declared[ARGV[4 + i]] = true end
local tag_keys = {}
for j = 2, m + 1 do tag_keys[#tag_keys + 1] = KEYS[j] end
local missing = {}
for _, member in ipairs(redis.call('SUNION', unpack(tag_keys))) do
  if not declared[member] then missing[#missing + 1] = member end
end
if #missing > 0 then return {0, missing} end
local removed = 0
local first, last = m + 2, m + 1 + n
for c = first, last, 1000 do
  removed = removed + redis.call('DEL', unpack(KEYS, c, math.min(c + 999, last)))
end
redis.call('DEL', unpack(tag_keys))
redis.call('INCR', KEYS[1])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return {1, removed}
"""


SOURCES = {
    "set_many": SET_MANY,
    "fill": FILL,
    "fetch_or_lock": FETCH_OR_LOCK,
    "acquire": ACQUIRE,
    "release": RELEASE,
    "delete": DELETE,
    "invalidate_tags": INVALIDATE_TAGS,
}


def register_scripts(client: Any) -> dict[str, Any]:
    """The scripts registered on one client, by name (sync or asyncio: `Script` objects work
    with both; NOSCRIPT after a flush is handled by redis-py)."""
    return {name: client.register_script(source) for name, source in SOURCES.items()}
