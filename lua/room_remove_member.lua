-- room_remove_member.lua: the Cluster leave's room step, and the step that moves a
-- user out of its previous room on a Cluster join (src/store/presence/cluster.rs)
-- (SPEC §5 #9). A member whose heartbeat timed out is not in the room any more: its
-- stale entry is removed and 'not_present' returned. When the anchor leaves a live
-- room, its absence starts now (the reaper ends the room after
-- LIVEROOM_ANCHOR_CLOSE_AFTER unless it comes back). Only this room's keys: the
-- user's pointer is cleared in its own step. On one Redis a leave is leave_room.lua.
-- KEYS[1] room hash, KEYS[2] presence zset, KEYS[3] joined zset, KEYS[4] room event stream.
-- ARGV: user id, member timeout (ms), reason of member_left: 'leave' or 'switched'
--       (the user joined another room).
-- ARGV[4] webhook marks: the key prefix when webhooks are on and this is one Redis,
--   else '' (lib.lua, WEBHOOK_MARKS).
-- Returns { 'ok' } | { 'not_found' } | { 'not_present' }. Events: member_left (with
-- ARGV[3], or expired for a stale entry), once, only when this script's ZREM removed
-- the member; anchor_offline.
-- Cost: O(log N).
expect_counts('room_remove_member', 4, 4)
WEBHOOK_MARKS = ARGV[4]
local user_id, timeout_ms = ARGV[1], tonumber(ARGV[2])
if not redis.call('HGET', KEYS[1], 'anchor') then return { 'not_found' } end
local _, now_s = clock_ms()
if not remove_member(KEYS[1], KEYS[2], KEYS[3], KEYS[4], user_id, now_s, timeout_ms, ARGV[3]) then
  return { 'not_present' }
end
return { 'ok' }
