-- lease_release.lua: compare-and-delete of a lease (a reaper partition's or a webhook
-- shard's, src/leases.rs) at a graceful stop or hand-over, so
-- another replica takes over at once.
-- KEYS[1] lease key. ARGV[1] this replica's id.
-- Returns 1 when this replica held the lease and released it, else 0. Cost: O(1).
expect_counts('lease_release', 1, 1)
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
