-- create_room.lua: creates a room; the caller becomes its anchor (SPEC §5 #1).
-- KEYS[1] room hash, KEYS[2] presence zset, KEYS[3] joined zset, KEYS[4] uv hll,
-- KEYS[5] anchor's user hash, KEYS[6] im_userid sequence, KEYS[7] chat_id sequence,
-- KEYS[8] search index zset, KEYS[9] anchor's room set, KEYS[10..] title n-gram sets.
-- ARGV: live_id, anchor user id, nick, avatar, title, notice, cover_url,
--       extends (JSON object), start_time (s), end_time (s), publish_expire_at (s),
--       member timeout (ms).
-- Returns { 0, room_view } or { 50000 } when the live_id is taken.
-- Cost: O(number of n-grams of the title).
local live_id, anchor = ARGV[1], ARGV[2]
if redis.call('EXISTS', KEYS[1]) == 1 then return { 50000 } end
ensure_profile(KEYS[5], KEYS[6], ARGV[3], ARGV[4])
local now = now_ms()
local chat_id = redis.call('INCR', KEYS[7])
redis.call('HSET', KEYS[1],
  'live_id', live_id, 'anchor', anchor, 'title', ARGV[5], 'notice', ARGV[6],
  'cover_url', ARGV[7], 'extends', ARGV[8], 'pk_id', '', 'chat_id', chat_id,
  'live_status', 0, 'created_ms', now, 'start_time', ARGV[9], 'end_time', ARGV[10],
  'publish_expire_at', ARGV[11], 'pv', 0)
redis.call('ZADD', KEYS[8], search_score(now, 0), live_id)
redis.call('SADD', KEYS[9], live_id)
for i = 10, #KEYS do
  redis.call('SADD', KEYS[i], live_id)
end
return { 0, room_view(KEYS[1], KEYS[2], KEYS[4], now, tonumber(ARGV[12])) }
