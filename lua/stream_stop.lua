-- stream_stop.lua: a media server says a stream stopped (nginx-rtmp on_publish_done,
-- SRS on_unpublish; docs/SPEC.md §12). Only the client whose stream is recorded can
-- stop it: the stream fields go, `stream_stopped` is recorded, and the anchor's
-- absence starts at once, exactly as a leave (remove_member of lib.lua: member_left
-- with reason `stream_stopped`, then anchor_offline in a live room); the reaper ends
-- the room after LIVEROOM_ANCHOR_CLOSE_AFTER unless the anchor comes back.
-- KEYS[1] room hash, KEYS[2] presence zset, KEYS[3] joined zset, KEYS[4] room event stream.
-- ARGV[1] the media server's client id of the stream, ARGV[2] member timeout (ms).
-- ARGV[3] webhook marks: the key prefix when webhooks are on and this is one Redis,
--   else '' (lib.lua, WEBHOOK_MARKS).
-- Returns { outcome, anchor }: 'stopped', or 'not_found' / 'not_publishing' (no
-- stream of this client is recorded: nothing written).
-- Events: stream_stopped (user = the anchor), member_left (stream_stopped),
-- anchor_offline. Cost: O(log N).
expect_counts('stream_stop', 4, 3)
WEBHOOK_MARKS = ARGV[3]
local client, timeout_ms = ARGV[1], tonumber(ARGV[2])
local room = redis.call('HMGET', KEYS[1], 'anchor', 'stream_client')
local anchor = room[1]
if not anchor then return { 'not_found', '' } end
if room[2] ~= client then return { 'not_publishing', anchor } end
local now = now_ms()
redis.call('HDEL', KEYS[1], 'stream_client', 'stream_until_ms')
record_event(KEYS[1], KEYS[2], KEYS[4], now, timeout_ms, 'stream_stopped', { user = anchor })
remove_member(KEYS[1], KEYS[2], KEYS[3], KEYS[4], anchor, now, timeout_ms, 'stream_stopped')
return { 'stopped', anchor }
