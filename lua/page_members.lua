-- page_members.lua: one page of a room's present members in join order, oldest
-- first (SPEC §5 #12), by offset or after a cursor. Members whose heartbeat timed
-- out are skipped, so the list is exact without any background task. Read only.
-- KEYS[1] presence zset (last heartbeat ms), KEYS[2] joined zset (join time ms).
-- ARGV[1] member timeout (ms), ARGV[2] count, ARGV[3] 'offset' or 'after',
-- ARGV[4] offset or cursor join score, ARGV[5] cursor member.
-- Returns { total, { member, join_score, ... } }.
-- By offset the page starts at its rank in the join order, found from the ranks of
-- the stale entries (expired, not yet swept: S, few while the reaper runs) that come
-- before it; after a cursor, at the cursor's score. Each batch of the join order is
-- checked against presence with one ZMSCORE.
-- Cost: O(log N + S log N + count) (S = stale entries; entries of the join order
-- without a presence, which no script leaves, are skipped as they come).
expect_counts('page_members', 2, 5)
local cutoff = now_ms() - tonumber(ARGV[1])
local count = tonumber(ARGV[2])
local total = redis.call('ZCOUNT', KEYS[1], string.format('(%d', cutoff), '+inf')
local out = {}
if count <= 0 then return { total, out } end
local by_rank = ARGV[3] == 'offset'
local pos, lo, after_score, after_member, batch = 0, '-inf', nil, nil, count
if by_rank then
  local offset = tonumber(ARGV[4])
  if offset >= total then return { total, out } end
  local stale = redis.call('ZRANGE', KEYS[1], '-inf', string.format('%d', cutoff), 'BYSCORE')
  local ranks = {}
  for i = 1, #stale do
    local rank = redis.call('ZRANK', KEYS[2], stale[i])
    if rank then ranks[#ranks + 1] = rank end
  end
  table.sort(ranks)
  pos = offset
  local passed = 0
  for i = 1, #ranks do
    if ranks[i] <= pos then pos, passed = pos + 1, i else break end
  end
  -- The page and the stale entries still ahead of it: one batch is enough.
  batch = math.min(count + #ranks - passed, count + 1000)
else
  lo, after_score, after_member = ARGV[4], tonumber(ARGV[4]), ARGV[5]
  batch = count + 2
end
while #out < 2 * count do
  local chunk
  if by_rank then
    chunk = redis.call('ZRANGE', KEYS[2], pos, pos + batch - 1, 'WITHSCORES')
  else
    chunk = redis.call('ZRANGE', KEYS[2], lo, '+inf', 'BYSCORE', 'LIMIT', pos, batch,
      'WITHSCORES')
  end
  if #chunk == 0 then break end
  local members = {}
  for i = 1, #chunk, 2 do members[#members + 1] = chunk[i] end
  local beats = redis.call('ZMSCORE', KEYS[1], unpack(members))
  for i = 1, #members do
    local member, score = members[i], chunk[2 * i]
    local last = beats[i]
    if last and tonumber(last) > cutoff
      and not (after_member and tonumber(score) == after_score and member <= after_member)
      and #out < 2 * count then
      out[#out + 1] = member
      out[#out + 1] = score
    end
  end
  pos = pos + #members
  batch = math.min(batch * 2, count + 1000)
end
return { total, out }
