-- reaper_reschedule.lua: on Redis Cluster, the sweep's write of a room's next visit
-- in its partition of the deadline index (src/store/lease.rs, docs/DESIGN.md
-- "Reaper"), a compare-and-set on the score the sweep listed before its room step:
-- a join marked meanwhile (reaper_mark.lua changes the score on every call) is left
-- as it is, still due, and the room is visited again.
-- KEYS[1] the partition's due zset (`{p}:{reaper:n}:due`).
-- ARGV[1] live_id, ARGV[2] the score listed ('' = the room was not in the index),
-- ARGV[3] the next visit (ms), or '' to remove the room (ended without members, or
-- deleted: no join can make anyone present in it again).
-- Returns 1 when written, 0 when the score had changed. Cost: O(log N).
expect_counts('reaper_reschedule', 1, 3)
local current = redis.call('ZSCORE', KEYS[1], ARGV[1])
if ARGV[2] == '' then
  if current then return 0 end
elseif not current or tonumber(current) ~= tonumber(ARGV[2]) then
  return 0
end
if ARGV[3] == '' then
  redis.call('ZREM', KEYS[1], ARGV[1])
else
  redis.call('ZADD', KEYS[1], tonumber(ARGV[3]), ARGV[1])
end
return 1
