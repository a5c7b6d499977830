-- update_extends.lua: merges keys into a room's extends (SPEC §5 #11); a key with an
-- empty value is removed. All or nothing: past the key limit nothing is written.
-- KEYS[1] room hash. ARGV[1] caller user id, ARGV[2] patch (JSON object of strings),
-- ARGV[3] maximum number of keys after the merge (SPEC §7).
-- Returns { 0 } | { 40400 } | { 40300 } | { 40000 } (too many keys). Cost: O(keys).
local room = redis.call('HMGET', KEYS[1], 'anchor', 'extends')
if not room[1] then return { 40400 } end
if room[1] ~= ARGV[1] then return { 40300 } end
local extends = cjson.decode(room[2] or '{}')
local count = 0
for k, v in pairs(cjson.decode(ARGV[2])) do
  if v == '' then extends[k] = nil else extends[k] = v end
end
for _ in pairs(extends) do count = count + 1 end
if count > tonumber(ARGV[3]) then return { 40000 } end
if count == 0 then
  redis.call('HSET', KEYS[1], 'extends', '{}')
else
  redis.call('HSET', KEYS[1], 'extends', cjson.encode(extends))
end
return { 0 }
