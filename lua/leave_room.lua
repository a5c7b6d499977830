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
if not redis.call('HGET', KEYS[1], 'anchor') then return { 40400 } end
if not remove_member(KEYS[1], KEYS[2], KEYS[3], KEYS[4], user_id, now_ms(), timeout_ms) then
  return { 40401 }
end
return { 0 }
