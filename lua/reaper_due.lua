-- reaper_due.lua: a page of the rooms due in one partition of the reaper's deadline
-- index (src/reaper.rs, docs/DESIGN.md "Reaper"), earliest first, by this node's clock.
-- KEYS[1] the partition's due zset (`{p}:{reaper:n}:due`).
-- ARGV[1] until (ms; '' = now), ARGV[2] offset, ARGV[3] count.
-- Returns { now (ms), until (ms), live_id, score, live_id, score, ... } (scores as
-- Redis writes them, so a compare-and-set sees the same number).
-- Cost: O(log N + count).
expect_counts('reaper_due', 1, 3)
local now = now_ms()
local upto = tonumber(ARGV[1]) or now
local page = redis.call('ZRANGE', KEYS[1], '-inf', upto, 'BYSCORE', 'LIMIT',
  tonumber(ARGV[2]), tonumber(ARGV[3]), 'WITHSCORES')
local out = { now, upto }
for i = 1, #page do out[#out + 1] = page[i] end
return out
