-- leave_room.lua: a member leaves on one Redis (SPEC §5 #9): the presence and the
-- user's pointer to the room go in one script, so a join racing the leave never
-- leaves the user present without a pointer (docs/DESIGN.md invariant 2). Redis
-- Cluster uses user_clear_room.lua, room_remove_member.lua and a pointer re-check
-- instead (src/store/presence/cluster.rs).
-- KEYS[1] room hash, KEYS[2] presence zset, KEYS[3] joined zset, KEYS[4] room event
-- stream, KEYS[5] user hash.
-- ARGV: user id, member timeout (ms), live_id.
-- ARGV[4] webhook marks: the key prefix when webhooks are on and this is one Redis,
--   else '' (lib.lua, WEBHOOK_MARKS).
-- Returns { 'ok' } | { 'not_found' } | { 'not_present' } (a stale entry is removed).
-- Events: member_left (leave, or expired for a stale entry), anchor_offline. Cost: O(log N).
expect_counts('leave_room', 5, 4)
WEBHOOK_MARKS = ARGV[4]
local user_id, timeout_ms, live_id = ARGV[1], tonumber(ARGV[2]), ARGV[3]
if not redis.call('HGET', KEYS[1], 'anchor') then return { 'not_found' } end
local _, now_s = clock_ms()
local present = remove_member(KEYS[1], KEYS[2], KEYS[3], KEYS[4], user_id, now_s, timeout_ms,
  'leave')
if redis.call('HGET', KEYS[5], 'room') == live_id then
  redis.call('HDEL', KEYS[5], 'room')
end
if not present then return { 'not_present' } end
return { 'ok' }
