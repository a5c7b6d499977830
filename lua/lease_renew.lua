-- lease_renew.lua: compare-and-extend of a lease: a reaper partition's or a webhook shard's
-- (src/leases.rs, docs/DESIGN.md "Reaper").
-- KEYS[1] lease key. ARGV[1] this replica's id, ARGV[2] lease TTL (ms).
-- Returns 1 when this replica still holds the lease (TTL reset), else 0. Cost: O(1).
expect_counts('lease_renew', 1, 2)
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
