-- delete_room.lua: the anchor deletes a room and all its state (SPEC §5 #5).
-- Members are released: their presence goes with the room; a user's pointer to a
-- deleted room is harmless (leaving a room whose keys are gone is a no-op).
-- KEYS[1] room hash, KEYS[2] presence zset, KEYS[3] joined zset, KEYS[4] uv hll,
-- KEYS[5] live index, KEYS[6] search index, KEYS[7] anchor's room set,
-- KEYS[8] active room index, KEYS[9] room event stream, KEYS[10..] title n-gram sets.
-- ARGV[1] caller user id, ARGV[2] live_id.
-- Returns { 0 } | { 40400 } | { 40300 }. Cost: O(n-grams), memory freed lazily (UNLINK).
local anchor = redis.call('HGET', KEYS[1], 'anchor')
if not anchor then return { 40400 } end
if anchor ~= ARGV[1] then return { 40300 } end
redis.call('UNLINK', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[9])
redis.call('ZREM', KEYS[5], ARGV[2])
redis.call('ZREM', KEYS[6], ARGV[2])
redis.call('SREM', KEYS[7], ARGV[2])
redis.call('ZREM', KEYS[8], ARGV[2])
for i = 10, #KEYS do
  redis.call('SREM', KEYS[i], ARGV[2])
end
return { 0 }
