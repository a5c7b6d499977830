-- webhook_presence.lua: a delivering replica says it is alive (or leaving), and
-- learns how many are, to take its share of the 16 webhook shards
-- (src/webhooks/deliver.rs). Entries not renewed within the window are dropped.
-- KEYS[1] the replicas zset (`{p}:{webhooks}:replicas`).
-- ARGV[1] the replica's lease token, ARGV[2] window (ms), ARGV[3] '1' = alive,
-- '0' = leaving.
-- Returns the number of replicas alive (this one included when alive). Cost: O(log N).
expect_counts('webhook_presence', 1, 3)
local now = now_ms()
if ARGV[3] == '1' then
  redis.call('ZADD', KEYS[1], now, ARGV[1])
else
  redis.call('ZREM', KEYS[1], ARGV[1])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - tonumber(ARGV[2])))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
return redis.call('ZCARD', KEYS[1])
