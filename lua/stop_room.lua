-- stop_room.lua: the anchor ends a live room (SPEC §5 #4). Ended is final.
-- The caller has already moved the room out of the live index (src/store/rooms/mod.rs).
-- KEYS[1] room hash, KEYS[2] room event stream.
-- ARGV[1] caller user id.
-- Returns { 'ok' } | { 'not_found' } | { 'not_anchor' } | { 'not_live' }. Cost: O(1).
expect_counts('stop_room', 2, 1)
local room = redis.call('HMGET', KEYS[1], 'anchor', 'live_status')
if not room[1] then return { 'not_found' } end
if room[1] ~= ARGV[1] then return { 'not_anchor' } end
if tonumber(room[2]) ~= 1 then return { 'not_live' } end
local now = now_ms()
redis.call('HSET', KEYS[1], 'live_status', 2, 'end_time', math.floor(now / 1000))
record_event(KEYS[2], now, 'room_stopped', ARGV[1])
return { 'ok' }
