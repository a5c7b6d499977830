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
-- Returns { 'ok', member_view } (lib.lua) | { 'not_found' } | { 'ended' } |
-- { 'banned', end ms }. Events: member_left (switched) in the previous room,
-- member_joined, anchor_online.
-- Cost: O(log N). A new member of a room, with a profile and in no other room: 15
-- commands (HMGET room, TIME, ZSCORE ban, HMGET user, ZADD NX presence, ZADD join
-- order, ZCOUNT, XADD, HSET pointer, ZREM kick mark, HINCRBY pv, PFADD, ZADD active,
-- ZSCORE anchor, PFCOUNT); a first profile, a previous room and an anchor's return
-- cost more only when there is one.
expect_counts('join_room', 10, 7)
WEBHOOK_MARKS = ARGV[7]
local user_id, timeout_ms, prefix, live_id = ARGV[1], tonumber(ARGV[4]), ARGV[5], ARGV[6]
local view = redis.call('HMGET', KEYS[1], 'live_status', 'anchor', 'title', 'notice',
  'cover_url', 'extends', 'pk_id', 'start_time', 'end_time', 'chat_id', 'publish_expire_at',
  'stream_until_ms')
local status = view[1]
if not status then return { 'not_found' } end
if tonumber(status) == 2 then return { 'ended' } end
local now, now_s = clock_ms()
local ban_until = active_ban(KEYS[9], user_id, now)
if ban_until then return { 'banned', ban_until } end
local user = redis.call('HMGET', KEYS[5], 'im_userid', 'room')
if not user[1] then ensure_profile(KEYS[5], KEYS[6], ARGV[2], ARGV[3]) end
if user[2] and user[2] ~= live_id then
  leave_current_room(prefix, KEYS[5], user_id, live_id, timeout_ms)
end
local known = { live_id = live_id, title = view[3], anchor = view[2], live_status = status }
local _, online = make_present(KEYS[1], KEYS[2], KEYS[3], KEYS[8], user_id, now_s, timeout_ms,
  known)
if user[2] ~= live_id then redis.call('HSET', KEYS[5], 'room', live_id) end
redis.call('ZREM', KEYS[10], user_id)
local pv = redis.call('HINCRBY', KEYS[1], 'pv', '1')
redis.call('PFADD', KEYS[4], user_id)
redis.call('ZADD', KEYS[7], now_s, live_id)
if view[2] == user_id then
  mark_anchor_back(KEYS[1], KEYS[2], KEYS[8], user_id, now_s, timeout_ms)
end
return { 'ok', member_view(view, KEYS[2], KEYS[4], user_id, pv, now, timeout_ms, online) }
