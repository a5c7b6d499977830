-- ensure_profile.lua: returns the caller's profile, creating it on first sight
-- from the token's nick/avatar claims (SPEC §3), optionally updating it.
-- KEYS[1] user hash, KEYS[2] im_userid sequence.
-- ARGV: nick claim, avatar claim, then update flags/values: has_nick, nick,
--       has_avatar, avatar, has_extends, extends patch (JSON object), max extends keys.
-- Returns { 0, { field, value, ... } } | { 40000 } (too many extends keys). Cost: O(1).
ensure_profile(KEYS[1], KEYS[2], ARGV[1], ARGV[2])
local updates = {}
if ARGV[3] == '1' then updates[#updates + 1] = 'nick'; updates[#updates + 1] = ARGV[4] end
if ARGV[5] == '1' then updates[#updates + 1] = 'avatar'; updates[#updates + 1] = ARGV[6] end
if ARGV[7] == '1' then
  local extends = cjson.decode(redis.call('HGET', KEYS[1], 'extends') or '{}')
  local count = 0
  for k, v in pairs(cjson.decode(ARGV[8])) do
    if v == '' then extends[k] = nil else extends[k] = v end
  end
  for _ in pairs(extends) do count = count + 1 end
  if count > tonumber(ARGV[9]) then return { 40000 } end
  updates[#updates + 1] = 'extends'
  if count == 0 then updates[#updates + 1] = '{}' else updates[#updates + 1] = cjson.encode(extends) end
end
if #updates > 0 then redis.call('HSET', KEYS[1], unpack(updates)) end
return { 0, redis.call('HGETALL', KEYS[1]) }
