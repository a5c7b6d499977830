-- update_extends.lua: merges keys into a room's extends (SPEC §5 #11); a key with an
-- empty value is removed. All or nothing: past the key limit nothing is written.
-- KEYS[1] room hash, KEYS[2] presence zset, KEYS[3] room event stream.
-- ARGV[1] caller user id, ARGV[2] patch (JSON object of strings),
-- ARGV[3] maximum number of keys after the merge (SPEC §7), ARGV[4] member timeout (ms).
-- ARGV[5] webhook marks: the key prefix when webhooks are on and this is one Redis,
--   else '' (lib.lua, WEBHOOK_MARKS).
-- Returns { 'ok' } | { 'not_found' } | { 'not_anchor' } | { 'too_many_keys' }.
-- Events: room_extends_updated with the new extends, only when they changed.
-- Cost: O(keys).
expect_counts('update_extends', 3, 5)
WEBHOOK_MARKS = ARGV[5]
local room = redis.call('HMGET', KEYS[1], 'anchor', 'extends')
if not room[1] then return { 'not_found' } end
if room[1] ~= ARGV[1] then return { 'not_anchor' } end
local extends = merge_extends(room[2], ARGV[2], tonumber(ARGV[3]))
if not extends then return { 'too_many_keys' } end
-- Changed? Compared as maps: cjson does not keep key order.
local before, after = cjson.decode(room[2] or '{}'), cjson.decode(extends)
local changed = false
for k, v in pairs(after) do if before[k] ~= v then changed = true end end
for k in pairs(before) do if after[k] == nil then changed = true end end
if changed then
  redis.call('HSET', KEYS[1], 'extends', extends)
  record_event(KEYS[1], KEYS[2], KEYS[3], now_ms(), tonumber(ARGV[4]),
    'room_extends_updated', { extends = extends })
end
return { 'ok' }
