-- start_room.lua: the anchor goes live on one Redis (SPEC §5 #3), in one atomic
-- script with the indexes and the anchor's move out of any other room
-- (docs/DESIGN.md invariant 2). Redis Cluster uses room_start.lua and ordered steps
-- (src/store/rooms/cluster.rs). Idempotent while live; the anchor becomes present
-- as if joined, without PV/UV.
-- KEYS[1] room hash, KEYS[2] presence zset, KEYS[3] joined zset, KEYS[4] uv hll,
-- KEYS[5] caller's user hash, KEYS[6] im_userid sequence, KEYS[7] active room index,
-- KEYS[8] room event stream (KEYS[1..8] as join_room.lua's), KEYS[9] live index zset,
-- KEYS[10] search index zset.
-- ARGV: caller user id, nick, avatar (profile on first sight), member timeout (ms),
--       key prefix, live_id (as join_room.lua's).
-- ARGV[7] webhook marks: the key prefix when webhooks are on and this is one Redis,
--   else '' (lib.lua, WEBHOOK_MARKS).
-- Returns { 'ok', room_view } | { 'not_found' } | { 'not_anchor' } | { 'ended' }.
-- Events: room_started (once), member_left (switched) in the anchor's previous room,
-- member_joined, anchor_online. Cost: O(log N).
expect_counts('start_room', 10, 7)
WEBHOOK_MARKS = ARGV[7]
local user_id, timeout_ms, prefix, live_id = ARGV[1], tonumber(ARGV[4]), ARGV[5], ARGV[6]
local room = redis.call('HMGET', KEYS[1], 'anchor', 'live_status', 'created_ms')
if not room[1] then return { 'not_found' } end
if room[1] ~= user_id then return { 'not_anchor' } end
if tonumber(room[2]) == 2 then return { 'ended' } end
local now = now_ms()
if tonumber(room[2]) == 0 then
  redis.call('HSET', KEYS[1], 'live_status', 1, 'start_time', math.floor(now / 1000),
    'started_ms', now)
  redis.call('ZADD', KEYS[9], now, live_id)
  redis.call('ZADD', KEYS[10], search_score(room[3], 1), live_id)
  record_event(KEYS[1], KEYS[2], KEYS[8], now, timeout_ms, 'room_started')
end
ensure_profile(KEYS[5], KEYS[6], ARGV[2], ARGV[3])
leave_current_room(prefix, KEYS[5], user_id, live_id, timeout_ms)
make_present(KEYS[1], KEYS[2], KEYS[3], KEYS[8], user_id, now, timeout_ms)
redis.call('HSET', KEYS[5], 'room', live_id)
mark_anchor_back(KEYS[1], KEYS[2], KEYS[8], user_id, now, timeout_ms)
redis.call('ZADD', KEYS[7], now, live_id)
return { 'ok', room_view(KEYS[1], KEYS[2], KEYS[4], now, timeout_ms) }
