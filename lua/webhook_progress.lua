-- webhook_progress.lua: records the delivery progress of one room for one receiver,
-- fenced by the shard lease: written only while the caller still holds it, so a
-- replica that lost its shard (paused, partitioned) cannot move a cursor back or
-- over another's work (src/webhooks/deliver.rs).
-- KEYS[1] the shard's lease, KEYS[2] its cursor hash, KEYS[3] its retry hash.
-- ARGV[1] the caller's lease token, ARGV[2] field (`<receiver id>|<live_id>`),
-- ARGV[3] the new cursor (a stream id; '' = unchanged), ARGV[4] the retry state
-- (`attempts:next_ms:first_failure_ms`; '' = clear it).
-- Returns 1 when written, 0 when the lease is not the caller's. Cost: O(1).
expect_counts('webhook_progress', 3, 4)
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[3] ~= '' then redis.call('HSET', KEYS[2], ARGV[2], ARGV[3]) end
if ARGV[4] == '' then
  redis.call('HDEL', KEYS[3], ARGV[2])
else
  redis.call('HSET', KEYS[3], ARGV[2], ARGV[4])
end
return 1
