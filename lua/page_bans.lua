-- page_bans.lua: one page of a room's active bans, soonest end first (then user id),
-- by offset or after a cursor (SPEC §11). Ended bans are skipped (Redis's clock). Read
-- only.
-- KEYS[1] bans zset (user → ban end ms).
-- ARGV[1] count, ARGV[2] 'offset' or 'after', ARGV[3] offset or cursor score
-- (ban end ms), ARGV[4] cursor member.
-- Returns { total, { member, end_ms, ... } }. Cost: O(log N + offset + count).
expect_counts('page_bans', 1, 4)
local now = now_ms()
local count = tonumber(ARGV[1])
local total = redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
local out = {}
if ARGV[2] == 'offset' then
  out = redis.call('ZRANGE', KEYS[1], '(' .. now, '+inf', 'BYSCORE', 'LIMIT',
    tonumber(ARGV[3]), count, 'WITHSCORES')
else
  local lo, after = ARGV[3], ARGV[4]
  if tonumber(lo) <= now then lo = '(' .. now end
  local pos = 0
  while #out < 2 * count do
    local chunk = redis.call('ZRANGE', KEYS[1], lo, '+inf', 'BYSCORE', 'LIMIT', pos, 256,
      'WITHSCORES')
    if #chunk == 0 then break end
    for i = 1, #chunk, 2 do
      local member, score = chunk[i], chunk[i + 1]
      if not (tonumber(score) == tonumber(ARGV[3]) and member <= after)
        and #out < 2 * count then
        out[#out + 1] = member
        out[#out + 1] = score
      end
    end
    pos = pos + 256
  end
end
return { total, out }
