-- stop_room.lua: the anchor ends a live room (SPEC §5 #4). Ended is final.
-- KEYS[1] room hash, KEYS[2] live index zset, KEYS[3] search index zset,
-- KEYS[4] room event stream.
-- ARGV[1] caller user id.
-- Returns { 0 } | { 40400 } | { 40300 } | { 40900 } (not live). Cost: O(log R) in rooms.
local room = redis.call('HMGET', KEYS[1], 'anchor', 'live_status', 'created_ms', 'live_id')
if not room[1] then return { 40400 } end
if room[1] ~= ARGV[1] then return { 40300 } end
if tonumber(room[2]) ~= 1 then return { 40900 } end
local now = now_ms()
redis.call('HSET', KEYS[1], 'live_status', 2, 'end_time', math.floor(now / 1000))
redis.call('ZREM', KEYS[2], room[4])
redis.call('ZADD', KEYS[3], search_score(room[3], 2), room[4])
record_event(KEYS[4], now, 'room_stopped', ARGV[1])
return { 0 }
