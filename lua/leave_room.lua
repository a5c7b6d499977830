-- leave_room.lua: a member leaves (SPEC §5 #9), or is moved out because it joined
-- another room. A member whose heartbeat timed out is not in the room any more: its
-- stale entry is removed and 40401 returned. When the anchor leaves a live room,
-- its absence starts now (the reaper ends the room after
-- LIVEROOM_ANCHOR_CLOSE_AFTER unless it comes back). Only this room's keys: the
-- user's pointer is cleared in its own step.
-- KEYS[1] room hash, KEYS[2] presence zset, KEYS[3] joined zset, KEYS[4] room event stream.
-- ARGV: user id, member timeout (ms).
-- Returns { 0 } | { 40400 } | { 40401 }. Events: member_left or member_expired, once,
-- only when this script's ZREM removed the member; anchor_offline.
-- Cost: O(log N).
local user_id, timeout_ms = ARGV[1], tonumber(ARGV[2])
local room = redis.call('HMGET', KEYS[1], 'anchor', 'live_status')
if not room[1] then return { 40400 } end
local now = now_ms()
local last = redis.call('ZSCORE', KEYS[2], user_id)
local present = last and tonumber(last) > now - timeout_ms
redis.call('ZREM', KEYS[3], user_id)
if redis.call('ZREM', KEYS[2], user_id) == 1 then
  record_event(KEYS[4], now, present and 'member_left' or 'member_expired', user_id)
end
if present and room[1] == user_id and tonumber(room[2]) == 1
  and redis.call('HSETNX', KEYS[1], 'anchor_absent_since_ms', now) == 1 then
  record_event(KEYS[4], now, 'anchor_offline', user_id)
end
if not present then return { 40401 } end
return { 0 }
