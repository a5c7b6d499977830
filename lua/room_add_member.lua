-- room_add_member.lua: the Cluster join's room step (src/store/presence/cluster.rs): a
-- user becomes present in a room (SPEC §5 #8). Only this room's keys: pointing the
-- user at the room and leaving its previous room are separate single-slot steps.
-- Rejoining is idempotent for presence (join time kept); a join counts a PV and the
-- UV, a restore (a step of that protocol putting back a presence it removed) counts
-- neither. On one Redis the whole join is join_room.lua.
-- KEYS[1] room hash, KEYS[2] presence zset, KEYS[3] joined zset, KEYS[4] uv hll,
-- KEYS[5] room event stream, KEYS[6] room bans zset, KEYS[7] room kicked zset.
-- ARGV: user id, member timeout (ms), '1' to count PV/UV ('0' = restore), live_id.
-- ARGV[5] webhook marks: the key prefix when webhooks are on and this is one Redis,
--   else '' (lib.lua, WEBHOOK_MARKS).
-- A banned user (SPEC §11) is refused, a restore too, before anything is written;
-- a join clears the user's kick mark.
-- Returns, for a join, { 'ok', member_view } (lib.lua); for a restore { 'ok', 1 when it
-- made the user present again (0: it was present) } | { 'not_found' } | { 'ended' } |
-- { 'banned', end ms }. Events: member_joined (a restore too: its presence had been
-- removed), anchor_online. Cost: O(log N); a join 13 commands (join_room.lua's less
-- the user's two), a restore of a member still present 7 (HMGET, TIME, ZSCORE ban,
-- ZREM kick mark, ZADD NX, ZSCORE, ZADD).
expect_counts('room_add_member', 7, 5)
WEBHOOK_MARKS = ARGV[5]
local user_id, timeout_ms, live_id = ARGV[1], tonumber(ARGV[2]), ARGV[4]
local view = redis.call('HMGET', KEYS[1], 'live_status', 'anchor', 'title', 'notice',
  'cover_url', 'extends', 'pk_id', 'start_time', 'end_time', 'chat_id', 'publish_expire_at',
  'stream_until_ms')
local status = view[1]
if not status then return { 'not_found' } end
if tonumber(status) == 2 then return { 'ended' } end
local now, now_s = clock_ms()
local ban_until = active_ban(KEYS[6], user_id, now)
if ban_until then return { 'banned', ban_until } end
local join = ARGV[3] == '1'
redis.call('ZREM', KEYS[7], user_id)
local known = { live_id = live_id, title = view[3], anchor = view[2], live_status = status }
local joined_now, online = make_present(KEYS[1], KEYS[2], KEYS[3], KEYS[5], user_id, now_s,
  timeout_ms, known)
local pv = 0
if join then
  pv = redis.call('HINCRBY', KEYS[1], 'pv', '1')
  redis.call('PFADD', KEYS[4], user_id)
end
if view[2] == user_id then
  mark_anchor_back(KEYS[1], KEYS[2], KEYS[5], user_id, now_s, timeout_ms)
end
if not join then return { 'ok', joined_now } end
return { 'ok', member_view(view, KEYS[2], KEYS[4], user_id, pv, now, timeout_ms, online) }
