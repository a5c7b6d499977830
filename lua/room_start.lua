-- room_start.lua: the Cluster start's room step (src/store/rooms/cluster.rs): the
-- anchor goes live (SPEC §5 #3); idempotent while live. The anchor becomes present
-- as if joined, without PV/UV. Only this room's keys: the indexes and leaving the
-- anchor's previous room are separate steps, repeated by a retried start. On one
-- Redis the whole start is start_room.lua.
-- KEYS[1] room hash, KEYS[2] presence zset, KEYS[3] joined zset, KEYS[4] uv hll,
-- KEYS[5] room event stream.
-- ARGV: caller user id, member timeout (ms).
-- ARGV[3] webhook marks: the key prefix when webhooks are on and this is one Redis,
--   else '' (lib.lua, WEBHOOK_MARKS).
-- Returns { 'ok', room_view, started_ms, created_ms } | { 'not_found' } |
-- { 'not_anchor' } | { 'ended' }. Events: room_started (once, when it went live),
-- member_joined (the anchor), anchor_online. Cost: O(log N).
expect_counts('room_start', 5, 3)
WEBHOOK_MARKS = ARGV[3]
local user_id, timeout_ms = ARGV[1], tonumber(ARGV[2])
local room = redis.call('HMGET', KEYS[1], 'anchor', 'live_status', 'created_ms', 'started_ms')
if not room[1] then return { 'not_found' } end
if room[1] ~= user_id then return { 'not_anchor' } end
if tonumber(room[2]) == 2 then return { 'ended' } end
local now = now_ms()
local started = room[4] or now
if tonumber(room[2]) == 0 then
  started = now
  redis.call('HSET', KEYS[1], 'live_status', 1, 'start_time', math.floor(now / 1000),
    'started_ms', now)
  record_event(KEYS[1], KEYS[2], KEYS[5], now, timeout_ms, 'room_started')
end
make_present(KEYS[1], KEYS[2], KEYS[3], KEYS[5], user_id, now, timeout_ms)
mark_anchor_back(KEYS[1], KEYS[2], KEYS[5], user_id, now, timeout_ms)
return { 'ok', room_view(KEYS[1], KEYS[2], KEYS[4], now, timeout_ms), tonumber(started),
  tonumber(room[3]) or 0 }
