-- ensure_profile.lua: returns a user's profile, creating it on first sight from
-- the token's nick/avatar claims (SPEC §3), optionally updating it, and optionally
-- pointing the user at the room it is joining (the Cluster join's step on the
-- user's slot). Only the user's own key: the im_userid of a new profile comes from
-- the caller (an INCR of the global sequence in its own step), asked for with
-- { 'needs_im_userid' } when the profile does not exist yet.
-- KEYS[1] user hash.
-- ARGV: im_userid for a new profile ('' = none yet), nick claim, avatar claim,
--       then update flags/values: has_nick, nick, has_avatar, avatar, has_extends,
--       extends patch (JSON object), max extends keys; then room to point at ('' = none).
-- Returns { 'ok', { field, value, ... }, previous room or '' } | { 'needs_im_userid' }
-- | { 'too_many_keys' } (nothing written). Cost: O(extends keys).
expect_counts('ensure_profile', 1, 11)
local user = KEYS[1]
if redis.call('HEXISTS', user, 'im_userid') == 0 then
  if ARGV[1] == '' then return { 'needs_im_userid' } end
  redis.call('HSET', user, 'im_userid', ARGV[1], 'nick', ARGV[2], 'avatar', ARGV[3],
    'extends', '{}')
end
local updates = {}
if ARGV[4] == '1' then updates[#updates + 1] = 'nick'; updates[#updates + 1] = ARGV[5] end
if ARGV[6] == '1' then updates[#updates + 1] = 'avatar'; updates[#updates + 1] = ARGV[7] end
if ARGV[8] == '1' then
  local extends = merge_extends(redis.call('HGET', user, 'extends'), ARGV[9], tonumber(ARGV[10]))
  if not extends then return { 'too_many_keys' } end
  updates[#updates + 1] = 'extends'
  updates[#updates + 1] = extends
end
if #updates > 0 then redis.call('HSET', user, unpack(updates)) end
local previous = ''
if ARGV[11] ~= '' then
  previous = redis.call('HGET', user, 'room') or ''
  redis.call('HSET', user, 'room', ARGV[11])
end
return { 'ok', redis.call('HGETALL', user), previous }
