-- lib_single.lua: helpers of the scripts that run only on one Redis (standalone or
-- Sentinel), where one script may touch a user's key, two rooms and the indexes at
-- once: join_room.lua, start_room.lua (src/store/presence/single.rs,
-- src/store/rooms/single.rs). Prepended after lib.lua.

-- The keys of room `live_id` under `prefix`: room, presence, joined, uv, events, bans,
-- kicked. The Lua twin of `Keys::room` in src/store/keys.rs; a unit test there holds
-- them equal.
local function room_keys(prefix, live_id)
  local tag = prefix .. ':{' .. live_id .. '}:'
  return tag .. 'room', tag .. 'presence', tag .. 'joined', tag .. 'uv', tag .. 'events',
    tag .. 'bans', tag .. 'kicked'
end

-- Creates the caller's profile on first sight (SPEC §3) with a fresh im_userid.
local function ensure_profile(user_key, im_seq_key, nick, avatar)
  if redis.call('HEXISTS', user_key, 'im_userid') == 0 then
    local im_userid = redis.call('INCR', im_seq_key)
    redis.call('HSET', user_key, 'im_userid', im_userid, 'nick', nick,
      'avatar', avatar, 'extends', '{}')
  end
end

-- Removes `user_id` from the room it is in, unless that room is `keep_live_id`.
-- One room per user (SPEC §5 #8): the old room's count drops at once. As in
-- room_remove_member.lua, an anchor moving out of its live room starts its absence now.
local function leave_current_room(prefix, user_key, user_id, keep_live_id, timeout_ms)
  local current = redis.call('HGET', user_key, 'room')
  if current and current ~= keep_live_id then
    local room, presence, joined, _, events = room_keys(prefix, current)
    remove_member(room, presence, joined, events, user_id, now_ms(), timeout_ms, 'switched')
  end
end
