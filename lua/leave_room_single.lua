-- leave_room_single.lua: a member leaves on a single Redis (SPEC §5 #9): the presence
-- and the user's pointer to the room go in one script, so a join racing the leave
-- never leaves the user present without a pointer (docs/DESIGN.md invariant 2).
-- Redis Cluster uses clear_room.lua, leave_room.lua and a pointer re-check instead.
-- KEYS[1] room hash, KEYS[2] presence zset, KEYS[3] joined zset, KEYS[4] room event
-- stream, KEYS[5] user hash.
-- ARGV: user id, member timeout (ms), live_id.
-- Returns { 0 } | { 40400 } | { 40401 } (not present: a stale entry is removed).
-- Events as leave_room.lua. Cost: O(log N).
local user_id, timeout_ms, live_id = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local room = redis.call('HMGET', KEYS[1], 'anchor', 'live_status')
if not room[1] then return { 40400 } end
local now = now_ms()
local last = redis.call('ZSCORE', KEYS[2], user_id)
local present = last and tonumber(last) > now - timeout_ms
redis.call('ZREM', KEYS[3], user_id)
if redis.call('ZREM', KEYS[2], user_id) == 1 then
  record_event(KEYS[4], now, present and 'member_left' or 'member_expired', user_id)
end
if redis.call('HGET', KEYS[5], 'room') == live_id then
  redis.call('HDEL', KEYS[5], 'room')
end
if present and room[1] == user_id and tonumber(room[2]) == 1
  and redis.call('HSETNX', KEYS[1], 'anchor_absent_since_ms', now) == 1 then
  record_event(KEYS[4], now, 'anchor_offline', user_id)
end
if not present then return { 40401 } end
return { 0 }
