-- page_members.lua: one page of a room's present members in join order, oldest
-- first (SPEC §5 #12), by offset or after a cursor. Members whose heartbeat timed
-- out are skipped, so the list is exact without any background task. Read only.
-- KEYS[1] presence zset (last heartbeat ms), KEYS[2] joined zset (join time ms).
-- ARGV[1] member timeout (ms), ARGV[2] count, ARGV[3] 'offset' or 'after',
-- ARGV[4] offset or cursor join score, ARGV[5] cursor member.
-- Returns { total, { member, join_score, ... } }.
-- Cost: O(log N + skipped + count) where skipped = offset + stale entries passed.
expect_counts('page_members', 2, 5)
local now = now_ms()
local cutoff = now - tonumber(ARGV[1])
local count = tonumber(ARGV[2])
local total = redis.call('ZCOUNT', KEYS[1], '(' .. cutoff, '+inf')
local skip, lo, after_member = 0, '-inf', nil
if ARGV[3] == 'offset' then
  skip = tonumber(ARGV[4])
else
  lo, after_member = ARGV[4], ARGV[5]
end
local out = {}
local batch = 256
local pos = 0
while #out < 2 * count do
  local chunk = redis.call('ZRANGE', KEYS[2], lo, '+inf', 'BYSCORE', 'LIMIT', pos, batch,
    'WITHSCORES')
  if #chunk == 0 then break end
  for i = 1, #chunk, 2 do
    local member, score = chunk[i], chunk[i + 1]
    local ok = true
    if after_member and tonumber(score) == tonumber(lo) and member <= after_member then
      ok = false
    end
    if ok then
      local last = redis.call('ZSCORE', KEYS[1], member)
      if last and tonumber(last) > cutoff then
        if skip > 0 then
          skip = skip - 1
        elseif #out < 2 * count then
          out[#out + 1] = member
          out[#out + 1] = score
        end
      end
    end
  end
  pos = pos + batch
end
return { total, out }
