-- kick_member.lua: the server API removes a member from a room, and may ban it
-- (SPEC §11). One write in the room's slot: the member out of presence and join order
-- (counts drop at once), member_left (reason kicked, with by / note) when it was
-- present, its kick mark (its next heartbeat answers that it was removed), and its
-- ban (user → end ms, Redis TIME) when ARGV[3] > 0. On one Redis the user's pointer
-- to this room is cleared here too (KEYS[7]); on Cluster the store clears it after
-- this step with user_clear_room.lua (src/store/moderation.rs).
-- KEYS[1] room hash, KEYS[2] presence zset, KEYS[3] joined zset, KEYS[4] room event
-- stream, KEYS[5] bans zset, KEYS[6] kicked zset, KEYS[7] (one Redis only) user hash.
-- ARGV[1] user id, ARGV[2] member timeout (ms), ARGV[3] ban length (ms, 0 = kick
-- only), ARGV[4] live_id, ARGV[5] server key id, ARGV[6] reason text ('' for none).
-- ARGV[7] webhook marks: the key prefix when webhooks are on and this is one Redis,
--   else '' (lib.lua, WEBHOOK_MARKS).
-- Returns { 'ok', was present (1/0), ban end ms (0 = none) } | { 'not_found' } |
-- { 'not_present' } (not present and no ban asked: nothing written). Events:
-- member_left (kicked; expired for a stale entry), anchor_offline. Cost: O(log N).
expect_counts('kick_member', 6, 7, true)
WEBHOOK_MARKS = ARGV[7]
local user_id, timeout_ms, ban_ms, live_id = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]),
  ARGV[4]
if not redis.call('HGET', KEYS[1], 'anchor') then return { 'not_found' } end
local now = now_ms()
local last = redis.call('ZSCORE', KEYS[2], user_id)
local present = last and tonumber(last) > now - timeout_ms
if not present and ban_ms <= 0 then return { 'not_present' } end
remove_member(KEYS[1], KEYS[2], KEYS[3], KEYS[4], user_id, now, timeout_ms, 'kicked',
  { by = ARGV[5], note = ARGV[6] })
if present then
  redis.call('ZADD', KEYS[6], now, user_id)
  redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', now - KICKED_RETAIN_MS)
  redis.call('ZREMRANGEBYRANK', KEYS[6], 0, -(KICKED_MAX + 1))
end
local ban_until = 0
if ban_ms > 0 then
  ban_until = now + ban_ms
  redis.call('ZADD', KEYS[5], ban_until, user_id)
  redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now)
end
if #KEYS >= 7 and redis.call('HGET', KEYS[7], 'room') == live_id then
  redis.call('HDEL', KEYS[7], 'room')
end
return { 'ok', present and 1 or 0, ban_until }
