-- webhook_mark.lua: marks a room due for webhook delivery on Redis Cluster, where the
-- scripts that record events cannot reach the mark's slot: the store runs this
-- before each single-slot step that may record an event in the room, so a mark is
-- never later than the event it announces (src/store/webhooks.rs). On one Redis the
-- recording scripts mark the room themselves (lib.lua, webhook_mark).
-- KEYS[1] the room's shard's due zset (`{p}:{webhooks:n}:due`).
-- ARGV[1] live_id.
-- Returns the mark (ms, Redis TIME). Cost: O(log N).
expect_counts('webhook_mark', 1, 1)
local now = now_ms()
redis.call('ZADD', KEYS[1], now, ARGV[1])
return now
