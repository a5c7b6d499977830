-- create_room.lua: creates a room; the caller becomes its anchor (SPEC §5 #1).
-- Only the room's own keys: the anchor's profile, the chat_id sequence and the
-- indexes are written by the caller in separate single-slot steps (src/store/rooms/mod.rs).
-- KEYS[1] room hash, KEYS[2] presence zset, KEYS[3] joined zset, KEYS[4] uv hll,
-- KEYS[5] room event stream.
-- ARGV: live_id, anchor user id, title, notice, cover_url, extends (JSON object),
--       start_time (s), end_time (s), publish_expire_at (s), chat_id, member timeout (ms).
-- ARGV[12] webhook marks: the key prefix when webhooks are on and this is one Redis,
--   else '' (lib.lua, WEBHOOK_MARKS).
-- Returns { 'ok', room_view } | { 'taken' } (the live_id exists). Events: room_created
-- (the stream of a deleted room with this live_id is kept, no longer set to expire).
-- Cost: O(1).
expect_counts('create_room', 5, 12)
WEBHOOK_MARKS = ARGV[12]
if redis.call('EXISTS', KEYS[1]) == 1 then return { 'taken' } end
local now = now_ms()
redis.call('HSET', KEYS[1],
  'live_id', ARGV[1], 'anchor', ARGV[2], 'title', ARGV[3], 'notice', ARGV[4],
  'cover_url', ARGV[5], 'extends', ARGV[6], 'pk_id', '', 'chat_id', ARGV[10],
  'live_status', 0, 'created_ms', now, 'start_time', ARGV[7], 'end_time', ARGV[8],
  'publish_expire_at', ARGV[9], 'pv', 0)
redis.call('PERSIST', KEYS[5])
record_event(KEYS[1], KEYS[2], KEYS[5], now, tonumber(ARGV[11]), 'room_created')
return { 'ok', room_view(KEYS[1], KEYS[2], KEYS[4], now, tonumber(ARGV[11])) }
