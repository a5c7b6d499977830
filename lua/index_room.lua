-- index_room.lua: a room's entries in the deployment-wide indexes, all under the hash
-- tag {global} (src/store/index.rs). One script per change, so on Redis Cluster a failover
-- is handled like any single command (redirected and retried by the client), and on
-- every deployment the change is all or nothing. Each op is idempotent.
-- KEYS[1] live index, KEYS[2] search index, KEYS[3] active index; for 'create' and
-- 'delete' also KEYS[4] the anchor's room set and KEYS[5..] the title's term sets.
-- ARGV[1] op, ARGV[2] live_id, ARGV[3] created_ms, ARGV[4] started_ms ('live').
--   create: listed in search (as not live), the anchor's set and the term sets;
--   live:   in the live index by start time, ranked live in search (only if still
--           there: a deleted room is never put back);
--   ended:  out of the live index, ranked not live in search (same condition);
--   active: in the active index (the reaper visits it), scored by Redis's clock;
--   delete: out of every index;
--   gone:   (the reaper found the room missing) out of live, search and active.
-- Returns 0. Cost: O(log R) per index, O(terms) for create / delete.
expect_counts('index_room', 3, 4, true)
local op, live_id, created = ARGV[1], ARGV[2], tonumber(ARGV[3])
if op == 'create' then
  redis.call('ZADD', KEYS[2], created, live_id)
  for i = 4, #KEYS do redis.call('SADD', KEYS[i], live_id) end
elseif op == 'live' then
  redis.call('ZADD', KEYS[1], tonumber(ARGV[4]), live_id)
  redis.call('ZADD', KEYS[2], 'XX', search_score(created, 1), live_id)
elseif op == 'ended' then
  redis.call('ZREM', KEYS[1], live_id)
  redis.call('ZADD', KEYS[2], 'XX', search_score(created, 2), live_id)
elseif op == 'active' then
  redis.call('ZADD', KEYS[3], now_ms(), live_id)
elseif op == 'delete' or op == 'gone' then
  redis.call('ZREM', KEYS[1], live_id)
  redis.call('ZREM', KEYS[2], live_id)
  redis.call('ZREM', KEYS[3], live_id)
  for i = 4, #KEYS do redis.call('SREM', KEYS[i], live_id) end
else
  return redis.error_reply('ERR index_room: unknown op ' .. op)
end
return 0
