-- room_add_member.lua: the Cluster join's room step (src/store/presence/cluster.rs): a
-- user becomes present in a room (SPEC §5 #8). Only this room's keys: pointing the
-- user at the room and leaving its previous room are separate single-slot steps.
-- Rejoining is idempotent for presence (join time kept); a join counts a PV and the
-- UV, a restore (a step of that protocol putting back a presence it removed) counts
-- neither. On one Redis the whole join is join_room.lua.
-- KEYS[1] room hash, KEYS[2] presence zset, KEYS[3] joined zset, KEYS[4] uv hll,
-- KEYS[5] room event stream, KEYS[6] room bans zset, KEYS[7] room kicked zset.
-- ARGV: user id, member timeout (ms), '1' to count PV/UV ('0' = restore).
-- ARGV[4] webhook marks: the key prefix when webhooks are on and this is one Redis,
--   else '' (lib.lua, WEBHOOK_MARKS).
-- A banned user (SPEC §11) is refused, a restore too, before anything is written;
-- a join clears the user's kick mark.
-- Returns { 'ok', room_view } | { 'not_found' } | { 'ended' } | { 'banned', end ms }.
-- Events: member_joined
-- (a restore too: its presence had been removed), anchor_online. Cost: O(log N).
expect_counts('room_add_member', 7, 4)
WEBHOOK_MARKS = ARGV[4]
local user_id, timeout_ms = ARGV[1], tonumber(ARGV[2])
local status = redis.call('HGET', KEYS[1], 'live_status')
if not status then return { 'not_found' } end
if tonumber(status) == 2 then return { 'ended' } end
local now = now_ms()
local ban_until = active_ban(KEYS[6], user_id, now)
if ban_until then return { 'banned', ban_until } end
redis.call('ZREM', KEYS[7], user_id)
make_present(KEYS[1], KEYS[2], KEYS[3], KEYS[5], user_id, now, timeout_ms)
if ARGV[3] == '1' then
  redis.call('HINCRBY', KEYS[1], 'pv', 1)
  redis.call('PFADD', KEYS[4], user_id)
end
mark_anchor_back(KEYS[1], KEYS[2], KEYS[5], user_id, now, timeout_ms)
return { 'ok', room_view(KEYS[1], KEYS[2], KEYS[4], now, timeout_ms) }
