-- start_room.lua: the anchor goes live (SPEC §5 #3); idempotent while live.
-- The anchor becomes present as if joined, without PV/UV. Only this room's keys:
-- the indexes and leaving the anchor's previous room are separate steps
-- (src/store.rs), repeated by a retried start.
-- KEYS[1] room hash, KEYS[2] presence zset, KEYS[3] joined zset, KEYS[4] uv hll,
-- KEYS[5] room event stream.
-- ARGV: caller user id, member timeout (ms).
-- Returns { 0, room_view, started_ms, created_ms } | { 40400 } | { 40300 } |
-- { 40900 } (ended). Cost: O(log N).
local user_id, timeout_ms = ARGV[1], tonumber(ARGV[2])
local room = redis.call('HMGET', KEYS[1], 'anchor', 'live_status', 'created_ms', 'started_ms')
if not room[1] then return { 40400 } end
if room[1] ~= user_id then return { 40300 } end
if tonumber(room[2]) == 2 then return { 40900 } end
local now = now_ms()
local started = room[4] or now
if tonumber(room[2]) == 0 then
  started = now
  redis.call('HSET', KEYS[1], 'live_status', 1, 'start_time', math.floor(now / 1000),
    'started_ms', now)
end
make_present(KEYS[2], KEYS[3], user_id, now, timeout_ms)
mark_anchor_back(KEYS[1], KEYS[5], user_id, now)
return { 0, room_view(KEYS[1], KEYS[2], KEYS[4], now, timeout_ms), tonumber(started),
  tonumber(room[3]) }
