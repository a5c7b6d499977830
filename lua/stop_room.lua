-- stop_room.lua: the anchor ends a live room (SPEC §5 #4). Ended is final.
-- The caller has already moved the room out of the live index (src/store/rooms/mod.rs).
-- KEYS[1] room hash, KEYS[2] presence zset, KEYS[3] room event stream.
-- ARGV[1] caller user id, ARGV[2] member timeout (ms).
-- ARGV[3] webhook marks: the key prefix when webhooks are on and this is one Redis,
--   else '' (lib.lua, WEBHOOK_MARKS).
-- Returns { 'ok' } | { 'not_found' } | { 'not_anchor' } | { 'not_live' }. Events:
-- room_stopped (reason anchor). Cost: O(log N).
expect_counts('stop_room', 3, 3)
WEBHOOK_MARKS = ARGV[3]
local room = redis.call('HMGET', KEYS[1], 'anchor', 'live_status')
if not room[1] then return { 'not_found' } end
if room[1] ~= ARGV[1] then return { 'not_anchor' } end
if tonumber(room[2]) ~= 1 then return { 'not_live' } end
local now = now_ms()
redis.call('HSET', KEYS[1], 'live_status', 2, 'end_time', math.floor(now / 1000))
record_event(KEYS[1], KEYS[2], KEYS[3], now, tonumber(ARGV[2]), 'room_stopped',
  { reason = 'anchor' })
return { 'ok' }
