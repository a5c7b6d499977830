-- heartbeat.lua: refreshes a member's presence (SPEC §5 #10). One round trip and
-- only this room's keys (docs/DESIGN.md invariant 1). The hot path: self-contained (no
-- lib.lua prefix, whose helper definitions would run on every call) and four
-- commands: HGET, TIME, ZSCORE, ZADD.
-- KEYS[1] room hash, KEYS[2] presence zset.
-- ARGV[1] user id, ARGV[2] member timeout (ms).
-- Returns { 0, live_status } | { 40400 } | { 40401 } (not present: join again).
-- Cost: O(log N).
local status = redis.call('HGET', KEYS[1], 'live_status')
if not status then return { 40400 } end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local last = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not last or tonumber(last) <= now - tonumber(ARGV[2]) then return { 40401 } end
redis.call('ZADD', KEYS[2], 'XX', now, ARGV[1])
return { 0, tonumber(status) }
