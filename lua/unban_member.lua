-- unban_member.lua: the server API lifts a user's ban from a room (SPEC §11).
-- Idempotent: lifting a ban that is not there (or has ended) succeeds and says so.
-- KEYS[1] room hash, KEYS[2] bans zset. ARGV[1] user id.
-- Returns { 'ok', 1 (an active ban was lifted) | 0 } | { 'not_found' }. Cost: O(log N).
expect_counts('unban_member', 2, 1)
if redis.call('EXISTS', KEYS[1]) == 0 then return { 'not_found' } end
local active = active_ban(KEYS[2], ARGV[1], now_ms())
if not active then return { 'ok', 0 } end
redis.call('ZREM', KEYS[2], ARGV[1])
return { 'ok', 1 }
