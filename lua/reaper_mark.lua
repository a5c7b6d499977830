-- reaper_mark.lua: on Redis Cluster, marks a room in its partition of the reaper's
-- deadline index before the single-slot step that makes a member present in it
-- (a join, a restore, a start: src/store/presence/cluster.rs, src/store/rooms/cluster.rs),
-- so a crash between the two never leaves a present member unindexed. On one Redis
-- the joining script marks the room itself (lib.lua, reaper_due).
-- The mark must never be lost to a sweep racing the join (docs/DESIGN.md "Reaper"):
-- every call changes the score, so a sweep's compare-and-set reschedule
-- (reaper_reschedule.lua) of a score it listed before this mark fails and the room
-- stays due:
--   absent, or due later than m = now + member timeout: set to m;
--   otherwise (due by m already): moved 1 ms earlier (a room listed as due by a
--   sweep stays due, its score changed).
-- KEYS[1] the partition's due zset (`{p}:{reaper:n}:due`).
-- ARGV[1] live_id, ARGV[2] member timeout (ms).
-- Returns the score written (ms). Cost: O(log N).
expect_counts('reaper_mark', 1, 2)
local m = now_ms() + tonumber(ARGV[2])
local s = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1]))
if s and s <= m then m = s - 1 end
redis.call('ZADD', KEYS[1], m, ARGV[1])
return m
