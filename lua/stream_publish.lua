-- stream_publish.lua: a media server asks whether a stream may be published into a
-- room, or renews one being published (docs/SPEC.md §12 "Media-server hooks"). The
-- signature and expiry of the push URL were checked before this call; this script
-- decides from the room and writes nothing when it refuses. One room's keys only.
--   publish: the room must exist, not be ended and be live; a fresh stream of
--     another client id is refused ('busy'). Accepted: the stream fields are set
--     (`stream_client`, `stream_until_ms` = now + the member timeout; the
--     stream_started event carries its start), and the anchor is present exactly as a join or heartbeat
--     would make it (make_present, mark_anchor_back of lib.lua).
--   renew (nginx-rtmp on_update, SRS on_hls): the same checks; extends
--     `stream_until_ms` and refreshes the anchor's presence score to now (rejoining
--     it, with its events, when its presence had lapsed or it had left).
-- The stream reads as publishing (`stream_status` 1) only while `stream_until_ms` is
-- in the future, judged at read time: a media server that died without calling back
-- stops counting one member timeout after its last renewal.
-- KEYS[1] room hash, KEYS[2] presence zset, KEYS[3] joined zset, KEYS[4] room event stream.
-- ARGV[1] mode: 'publish' | 'renew', ARGV[2] the media server's client id of the
--   stream, ARGV[3] member timeout (ms).
-- ARGV[4] webhook marks: the key prefix when webhooks are on and this is one Redis,
--   else '' (lib.lua, WEBHOOK_MARKS).
-- Returns { outcome, anchor } with outcome 'started' (a new stream: stream_started
-- recorded), 'renewed' (the same client's stream, already recorded), or a refusal
-- that wrote nothing: 'not_found', 'ended', 'not_live', 'busy'.
-- Events: stream_started (user = the anchor), member_joined, anchor_online (as they
-- arise). Cost: O(log N).
expect_counts('stream_publish', 4, 4)
WEBHOOK_MARKS = ARGV[4]
local mode, client, timeout_ms = ARGV[1], ARGV[2], tonumber(ARGV[3])
local room = redis.call('HMGET', KEYS[1], 'anchor', 'live_status', 'stream_client',
  'stream_until_ms')
local anchor = room[1]
if not anchor then return { 'not_found', '' } end
local status = tonumber(room[2])
if status == 2 then return { 'ended', anchor } end
if status ~= 1 then return { 'not_live', anchor } end
local now = now_ms()
local fresh = room[4] and tonumber(room[4]) > now
if room[3] and room[3] ~= client and fresh then return { 'busy', anchor } end
-- A new stream unless this client's is already recorded (and, for a publish, fresh:
-- a media server restarted numbers its clients again).
local known = room[3] == client and (mode == 'renew' or fresh)
if known then
  redis.call('HSET', KEYS[1], 'stream_until_ms', now + timeout_ms)
else
  redis.call('HSET', KEYS[1], 'stream_client', client, 'stream_until_ms', now + timeout_ms)
  record_event(KEYS[1], KEYS[2], KEYS[4], now, timeout_ms, 'stream_started', { user = anchor })
end
make_present(KEYS[1], KEYS[2], KEYS[3], KEYS[4], anchor, now, timeout_ms)
mark_anchor_back(KEYS[1], KEYS[2], KEYS[4], anchor, now, timeout_ms)
if known then return { 'renewed', anchor } end
return { 'started', anchor }
