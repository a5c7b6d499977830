-- webhook_unmark.lua: compare-and-remove of a room's due mark once every receiver
-- is caught up (src/webhooks/deliver.rs): removed only if the mark is unchanged
-- since the deliverer listed it (a later event re-marked it: kept) and the caller
-- still holds the shard lease. With `finished` (the room's last event,
-- `room_deleted`, was handled for every receiver, or its stream is gone) the room's
-- cursors and retry states go too, so Redis does not grow with rooms ever made.
-- KEYS[1] the shard's due zset, KEYS[2] its lease, KEYS[3] its cursor hash,
-- KEYS[4] its retry hash.
-- ARGV[1] lease token, ARGV[2] live_id, ARGV[3] the mark as listed (ms),
-- ARGV[4] '1' = finished, ARGV[5] the room's fields (`<receiver id>|<live_id>`),
-- comma-separated.
-- Returns 1 when the mark was removed, else 0. Cost: O(log N + receivers).
expect_counts('webhook_unmark', 4, 5)
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
local mark = redis.call('ZSCORE', KEYS[1], ARGV[2])
if not mark or tonumber(mark) ~= tonumber(ARGV[3]) then return 0 end
redis.call('ZREM', KEYS[1], ARGV[2])
if ARGV[4] == '1' then
  for field in string.gmatch(ARGV[5], '[^,]+') do
    redis.call('HDEL', KEYS[3], field)
    redis.call('HDEL', KEYS[4], field)
  end
end
return 1
