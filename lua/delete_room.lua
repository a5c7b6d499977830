-- delete_room.lua: the anchor deletes a room and all its state (SPEC §5 #5).
-- The caller has already taken the room out of the indexes (src/store/rooms/mod.rs),
-- so a retried delete finishes what a failed one started. Members are released: their
-- presence goes with the room (no member_left: room_deleted says it); a user's pointer
-- to a deleted room is harmless. The event stream stays EVENTS_RETAIN_MS (lib.lua) so
-- its last events, room_deleted included, can still be read and delivered.
-- KEYS[1] room hash, KEYS[2] presence zset, KEYS[3] joined zset, KEYS[4] uv hll,
-- KEYS[5] room event stream, KEYS[6] bans zset, KEYS[7] kicked zset (bans go with
-- the room, SPEC §11).
-- ARGV[1] caller user id, ARGV[2] member timeout (ms).
-- ARGV[3] webhook marks: the key prefix when webhooks are on and this is one Redis,
--   else '' (lib.lua, WEBHOOK_MARKS).
-- Returns { 'ok' } | { 'not_found' } | { 'not_anchor' }. Events: room_deleted (with
-- online_count 0). Cost: O(1), memory freed lazily (UNLINK).
expect_counts('delete_room', 7, 3)
WEBHOOK_MARKS = ARGV[3]
local anchor = redis.call('HGET', KEYS[1], 'anchor')
if not anchor then return { 'not_found' } end
if anchor ~= ARGV[1] then return { 'not_anchor' } end
record_event(KEYS[1], KEYS[2], KEYS[5], now_ms(), tonumber(ARGV[2]), 'room_deleted',
  { online = 0 })
redis.call('UNLINK', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[6], KEYS[7])
redis.call('PEXPIRE', KEYS[5], EVENTS_RETAIN_MS)
return { 'ok' }
