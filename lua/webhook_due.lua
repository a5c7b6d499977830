-- webhook_due.lua: one page of a shard's due rooms, oldest mark first, with this
-- node's clock (src/webhooks/deliver.rs): a mark may be removed only when it is
-- older than the grace at a moment before the deliverer read the room's stream,
-- and this `now` is such a moment.
-- KEYS[1] the shard's due zset.
-- ARGV[1] offset (rank), ARGV[2] count.
-- Returns { now_ms, live_id, mark_ms, live_id, mark_ms, ... }. Cost: O(log N + count).
expect_counts('webhook_due', 1, 2)
local now = now_ms()
local page = redis.call('ZRANGE', KEYS[1], tonumber(ARGV[1]),
  tonumber(ARGV[1]) + tonumber(ARGV[2]) - 1, 'WITHSCORES')
local out = { now }
for i = 1, #page do out[#out + 1] = page[i] end
return out
