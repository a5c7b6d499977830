-- heartbeat.lua: refreshes a member's presence (SPEC §5 #10). One round trip and
-- only this room's keys (docs/DESIGN.md invariant 1). The hot path: self-contained (no
-- lib.lua prefix, whose helper definitions would run on every call) and four
-- commands: HGET, TIME, ZSCORE, ZADD.
-- KEYS[1] room hash, KEYS[2] presence zset, KEYS[3] kicked zset (read only when the
-- member is not present: kicked within the last 10 min, KICKED_RETAIN_MS of lib.lua).
-- ARGV[1] user id, ARGV[2] member timeout (ms).
-- Returns { 'ok', live_status } | { 'not_found' } | { 'not_present' } (join again) |
-- { 'kicked' } (removed by the server API, SPEC §11).
-- Cost: O(log N).
if #KEYS ~= 3 or #ARGV ~= 2 then
  return redis.error_reply('ERR heartbeat: called with ' .. #KEYS .. ' KEYS and ' .. #ARGV
    .. ' ARGV, expects 3 KEYS and 2 ARGV')
end
local status = redis.call('HGET', KEYS[1], 'live_status')
if not status then return { 'not_found' } end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local last = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not last or tonumber(last) <= now - tonumber(ARGV[2]) then
  local kicked = redis.call('ZSCORE', KEYS[3], ARGV[1])
  if kicked and tonumber(kicked) > now - 600000 then return { 'kicked' } end
  return { 'not_present' }
end
redis.call('ZADD', KEYS[2], 'XX', now, ARGV[1])
return { 'ok', tonumber(status) }
