-- user_clear_room.lua: the Cluster leave's first step (src/store/presence/cluster.rs):
-- drops the user's pointer to the room it leaves, unless the user has moved on to
-- another room meanwhile.
-- KEYS[1] user hash. ARGV[1] live_id.
-- Returns 1 when the pointer was cleared, else 0. Cost: O(1).
expect_counts('user_clear_room', 1, 1)
if redis.call('HGET', KEYS[1], 'room') == ARGV[1] then
  redis.call('HDEL', KEYS[1], 'room')
  return 1
end
return 0
