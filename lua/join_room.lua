-- join_room.lua: a user joins a room on one Redis (SPEC §5 #8), in one atomic
-- script: one room per user, the previous room left in the same script, so the user
-- is never present in two rooms, not even for an instant (docs/DESIGN.md invariant
-- 2). Redis Cluster uses room_add_member.lua and ordered steps instead
-- (src/store/presence/cluster.rs). Rejoining is idempotent for presence (join time
-- kept) but counts a PV.
-- KEYS[1] room hash, KEYS[2] presence zset, KEYS[3] joined zset, KEYS[4] uv hll,
-- KEYS[5] caller's user hash, KEYS[6] im_userid sequence, KEYS[7] active room index,
-- KEYS[8] room event stream, KEYS[9] room bans zset, KEYS[10] room kicked zset.
-- ARGV: user id, nick, avatar (profile on first sight), member timeout (ms),
--       key prefix, live_id.
-- ARGV[7] webhook marks: the key prefix when webhooks are on and this is one Redis,
--   else '' (lib.lua, WEBHOOK_MARKS).
-- A banned user (SPEC §11) is refused before anything is written; a join clears the
-- user's kick mark.
-- Returns { 'ok', room_view } | { 'not_found' } | { 'ended' } | { 'banned', end ms }.
-- Events: member_left
-- (switched) in the previous room, member_joined, anchor_online. Cost: O(log N).
expect_counts('join_room', 10, 7)
WEBHOOK_MARKS = ARGV[7]
local user_id, timeout_ms, prefix, live_id = ARGV[1], tonumber(ARGV[4]), ARGV[5], ARGV[6]
local status = redis.call('HGET', KEYS[1], 'live_status')
if not status then return { 'not_found' } end
if tonumber(status) == 2 then return { 'ended' } end
local ban_until = active_ban(KEYS[9], user_id, now_ms())
if ban_until then return { 'banned', ban_until } end
ensure_profile(KEYS[5], KEYS[6], ARGV[2], ARGV[3])
leave_current_room(prefix, KEYS[5], user_id, live_id, timeout_ms)
local now = now_ms()
make_present(KEYS[1], KEYS[2], KEYS[3], KEYS[8], user_id, now, timeout_ms)
redis.call('HSET', KEYS[5], 'room', live_id)
redis.call('ZREM', KEYS[10], user_id)
redis.call('HINCRBY', KEYS[1], 'pv', 1)
redis.call('PFADD', KEYS[4], user_id)
redis.call('ZADD', KEYS[7], now, live_id)
mark_anchor_back(KEYS[1], KEYS[2], KEYS[8], user_id, now, timeout_ms)
return { 'ok', room_view(KEYS[1], KEYS[2], KEYS[4], now, timeout_ms) }
