-- update_room.lua: changes a room's title, notice and / or cover (SPEC §11, the server
-- API), in any live_status (an ended room's replay may be renamed). Only the room's own
-- keys: the caller adds the new title's search terms before this step and removes the
-- old title's after it (src/store/rooms/update.rs), so the room is findable by its new
-- title as soon as the title changes.
-- KEYS[1] room hash, KEYS[2] presence zset, KEYS[3] uv hll, KEYS[4] room event stream.
-- ARGV[1] the fields to set: JSON object with any of title, notice, cover_url (strings,
--   already validated, SPEC §7), ARGV[2] member timeout (ms).
-- ARGV[3] webhook marks: the key prefix when webhooks are on and this is one Redis,
--   else '' (lib.lua, WEBHOOK_MARKS).
-- Returns { 'ok', title before the change, room_view } | { 'not_found' }.
-- Events: room_updated with `changes` (JSON object: each field whose value changed,
-- with its new value), only when something changed.
-- Cost: O(1) (O(log N) for the view's count).
expect_counts('update_room', 4, 3)
WEBHOOK_MARKS = ARGV[3]
local old = redis.call('HMGET', KEYS[1], 'anchor', 'title', 'notice', 'cover_url')
if not old[1] then return { 'not_found' } end
local patch = cjson.decode(ARGV[1])
local current = { title = old[2] or '', notice = old[3] or '', cover_url = old[4] or '' }
local changes, changed = {}, false
for _, name in ipairs({ 'title', 'notice', 'cover_url' }) do
  local value = patch[name]
  if type(value) == 'string' and value ~= current[name] then
    redis.call('HSET', KEYS[1], name, value)
    changes[name] = value
    changed = true
  end
end
local now = now_ms()
if changed then
  record_event(KEYS[1], KEYS[2], KEYS[4], now, tonumber(ARGV[2]), 'room_updated',
    { changes = cjson.encode(changes) })
end
return { 'ok', current.title, room_view(KEYS[1], KEYS[2], KEYS[3], now, tonumber(ARGV[2])) }
