-- get_room.lua: reads one room as of Redis's clock (SPEC §4). Read only.
-- KEYS[1] room hash, KEYS[2] presence zset, KEYS[3] joined zset (unused), KEYS[4] uv hll.
-- ARGV[1] member timeout (ms).
-- Returns { 'ok', room_view } | { 'not_found' }. Cost: O(log N) in the room's members.
expect_counts('get_room', 4, 1)
if redis.call('EXISTS', KEYS[1]) == 0 then return { 'not_found' } end
return { 'ok', room_view(KEYS[1], KEYS[2], KEYS[4], now_ms(), tonumber(ARGV[1])) }
