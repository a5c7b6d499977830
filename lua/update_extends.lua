-- update_extends.lua: merges keys into a room's extends (SPEC §5 #11); a key with an
-- empty value is removed. All or nothing: past the key limit nothing is written.
-- KEYS[1] room hash. ARGV[1] caller user id, ARGV[2] patch (JSON object of strings),
-- ARGV[3] maximum number of keys after the merge (SPEC §7).
-- Returns { 'ok' } | { 'not_found' } | { 'not_anchor' } | { 'too_many_keys' }.
-- Cost: O(keys).
expect_counts('update_extends', 1, 3)
local room = redis.call('HMGET', KEYS[1], 'anchor', 'extends')
if not room[1] then return { 'not_found' } end
if room[1] ~= ARGV[1] then return { 'not_anchor' } end
local extends = merge_extends(room[2], ARGV[2], tonumber(ARGV[3]))
if not extends then return { 'too_many_keys' } end
redis.call('HSET', KEYS[1], 'extends', extends)
return { 'ok' }
