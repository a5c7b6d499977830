-- stop_room.lua: a room is ended, by its anchor (SPEC §5 #4) or by the server API
-- (SPEC §11). Ended is final.
-- The caller has already moved the room out of the live index (src/store/rooms/mod.rs).
-- KEYS[1] room hash, KEYS[2] presence zset, KEYS[3] room event stream.
-- ARGV[1] the room's anchor as the caller names it, ARGV[2] member timeout (ms),
-- ARGV[3] reason of room_stopped: 'anchor' or 'server', ARGV[4] the server key id
--   ('' for an anchor's stop), ARGV[5] the server's reason text ('' for none).
-- ARGV[6] webhook marks: the key prefix when webhooks are on and this is one Redis,
--   else '' (lib.lua, WEBHOOK_MARKS).
-- Returns { 'ok' } | { 'not_found' } | { 'not_anchor' } | { 'not_live' }. Events:
-- room_stopped (reason ARGV[3], with by / note for a server stop). Cost: O(log N).
expect_counts('stop_room', 3, 6)
WEBHOOK_MARKS = ARGV[6]
local room = redis.call('HMGET', KEYS[1], 'anchor', 'live_status')
if not room[1] then return { 'not_found' } end
if room[1] ~= ARGV[1] then return { 'not_anchor' } end
if tonumber(room[2]) ~= 1 then return { 'not_live' } end
local now = now_ms()
redis.call('HSET', KEYS[1], 'live_status', 2, 'end_time', math.floor(now / 1000))
record_event(KEYS[1], KEYS[2], KEYS[3], now, tonumber(ARGV[2]), 'room_stopped',
  { reason = ARGV[3], by = ARGV[4], note = ARGV[5] })
return { 'ok' }
