-- ensure_profile.lua: returns a user's profile, creating it on first sight from
-- the token's nick/avatar claims (SPEC §3), optionally updating it, and optionally
-- pointing the user at the room it is joining. Only the user's own key: the
-- im_userid of a new profile comes from the caller (an INCR of the global sequence
-- in its own step), asked for with { 1 } when the profile does not exist yet.
-- KEYS[1] user hash.
-- ARGV: im_userid for a new profile ('' = none yet), nick claim, avatar claim,
--       then update flags/values: has_nick, nick, has_avatar, avatar, has_extends,
--       extends patch (JSON object), max extends keys; then room to point at ('' = none).
-- Returns { 0, { field, value, ... }, previous room or '' } | { 1 } (needs an
-- im_userid) | { 40000 } (too many extends keys). Cost: O(extends keys).
local user = KEYS[1]
if redis.call('HEXISTS', user, 'im_userid') == 0 then
  if ARGV[1] == '' then return { 1 } end
  redis.call('HSET', user, 'im_userid', ARGV[1], 'nick', ARGV[2], 'avatar', ARGV[3],
    'extends', '{}')
end
local updates = {}
if ARGV[4] == '1' then updates[#updates + 1] = 'nick'; updates[#updates + 1] = ARGV[5] end
if ARGV[6] == '1' then updates[#updates + 1] = 'avatar'; updates[#updates + 1] = ARGV[7] end
if ARGV[8] == '1' then
  local extends = cjson.decode(redis.call('HGET', user, 'extends') or '{}')
  local count = 0
  for k, v in pairs(cjson.decode(ARGV[9])) do
    if v == '' then extends[k] = nil else extends[k] = v end
  end
  for _ in pairs(extends) do count = count + 1 end
  if count > tonumber(ARGV[10]) then return { 40000 } end
  updates[#updates + 1] = 'extends'
  if count == 0 then updates[#updates + 1] = '{}' else updates[#updates + 1] = cjson.encode(extends) end
end
if #updates > 0 then redis.call('HSET', user, unpack(updates)) end
local previous = ''
if ARGV[11] ~= '' then
  previous = redis.call('HGET', user, 'room') or ''
  redis.call('HSET', user, 'room', ARGV[11])
end
local profile = redis.call('HGETALL', user)
return { 0, profile, previous }
