-- leave_room.lua: a member leaves (SPEC §5 #9). A member whose heartbeat timed out
-- is not in the room any more: its stale entry is removed and 40401 returned.
-- KEYS[1] room hash, KEYS[2] presence zset, KEYS[3] joined zset, KEYS[4] caller's user hash.
-- ARGV: user id, member timeout (ms), live_id.
-- Returns { 0 } | { 40400 } | { 40401 }. Cost: O(log N).
local user_id, timeout_ms, live_id = ARGV[1], tonumber(ARGV[2]), ARGV[3]
if redis.call('EXISTS', KEYS[1]) == 0 then return { 40400 } end
local last = redis.call('ZSCORE', KEYS[2], user_id)
redis.call('ZREM', KEYS[2], user_id)
redis.call('ZREM', KEYS[3], user_id)
if redis.call('HGET', KEYS[4], 'room') == live_id then
  redis.call('HDEL', KEYS[4], 'room')
end
if not last or tonumber(last) <= now_ms() - timeout_ms then return { 40401 } end
return { 0 }
