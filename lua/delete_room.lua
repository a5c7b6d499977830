-- delete_room.lua: the anchor deletes a room and all its state (SPEC §5 #5).
-- The caller has already taken the room out of the indexes (src/store/rooms/mod.rs),
-- so a retried delete finishes what a failed one started. Members are released: their
-- presence goes with the room; a user's pointer to a deleted room is harmless.
-- KEYS[1] room hash, KEYS[2] presence zset, KEYS[3] joined zset, KEYS[4] uv hll,
-- KEYS[5] room event stream.
-- ARGV[1] caller user id.
-- Returns { 'ok' } | { 'not_found' } | { 'not_anchor' }. Cost: O(1), memory freed
-- lazily (UNLINK).
expect_counts('delete_room', 5, 1)
local anchor = redis.call('HGET', KEYS[1], 'anchor')
if not anchor then return { 'not_found' } end
if anchor ~= ARGV[1] then return { 'not_anchor' } end
redis.call('UNLINK', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
return { 'ok' }
