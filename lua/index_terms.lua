-- index_terms.lua: adds a room to, or removes it from, title term sets of the search
-- index, all under the hash tag {global} (src/store/index.rs); the steps of a title
-- change (src/store/rooms/update.rs). Idempotent.
-- KEYS[1..] the term sets. ARGV[1] 'add' | 'remove', ARGV[2] live_id.
-- Returns 0. Cost: O(terms).
expect_counts('index_terms', 1, 2, true)
local op, live_id = ARGV[1], ARGV[2]
if op == 'add' then
  for i = 1, #KEYS do redis.call('SADD', KEYS[i], live_id) end
elseif op == 'remove' then
  for i = 1, #KEYS do redis.call('SREM', KEYS[i], live_id) end
else
  return redis.error_reply('ERR index_terms: unknown op ' .. op)
end
return 0
