-- page_index.lua: one page of a room index zset, newest (highest score) first,
-- by offset or after a cursor (SPEC §5 pagination). Read only.
-- KEYS[1] index zset.
-- ARGV[1] count, ARGV[2] 'offset' or 'after', ARGV[3] offset or cursor score,
-- ARGV[4] cursor member.
-- Order: score descending, ties by member descending (ZRANGE REV order), so a
-- cursor (score, member) names one exact place even among equal scores.
-- Returns { total, { member, score, member, score, ... } }. Cost: O(log R + count + ties).
expect_counts('page_index', 1, 4)
local count = tonumber(ARGV[1])
local total = redis.call('ZCARD', KEYS[1])
if ARGV[2] == 'offset' then
  return { total, redis.call('ZRANGE', KEYS[1], '+inf', '-inf', 'BYSCORE', 'REV',
    'LIMIT', tonumber(ARGV[3]), count, 'WITHSCORES') }
end
local score, member = ARGV[3], ARGV[4]
local out = {}
local ties = redis.call('ZRANGE', KEYS[1], score, score, 'BYSCORE', 'REV', 'WITHSCORES')
for i = 1, #ties, 2 do
  if #out >= 2 * count then break end
  if ties[i] < member then
    out[#out + 1] = ties[i]
    out[#out + 1] = ties[i + 1]
  end
end
if #out < 2 * count then
  local rest = redis.call('ZRANGE', KEYS[1], '(' .. score, '-inf', 'BYSCORE', 'REV',
    'LIMIT', 0, count - #out / 2, 'WITHSCORES')
  for i = 1, #rest do out[#out + 1] = rest[i] end
end
return { total, out }
