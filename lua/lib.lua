-- lib.lua: helpers prepended to every room script (see src/store.rs).
-- Nothing here runs on its own; each helper is O(1) unless noted.
--
-- Key layout (docs/DESIGN.md, invariant 3): every key of a room shares the hash tag
-- `{live_id}`: `<prefix>:{<live_id>}:room|presence|joined|uv|events`. Every script
-- touches the keys of one hash slot only (one room, one user, or the `{global}`
-- indexes), so all of them run unchanged on Redis Cluster (issue #7).

-- Redis's own clock in milliseconds (SPEC §6: one clock for every timeout).
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Appends a room state change to the room's event stream, trimmed to about
-- EVENTS_MAXLEN entries. Callers record a transition only when their own write
-- made it happen (ZREM / HDEL / HSETNX returned 1), so each is recorded once.
local EVENTS_MAXLEN = 1000
local function record_event(events, now, kind, user_id)
  redis.call('XADD', events, 'MAXLEN', '~', EVENTS_MAXLEN, '*',
    'type', kind, 'user', user_id or '', 'at_ms', now)
end

-- The anchor is back (start / join of its own room): clears the absence mark the
-- reaper set, recording `anchor_online` once.
local function mark_anchor_back(room, events, user_id, now)
  if redis.call('HGET', room, 'anchor') == user_id
    and redis.call('HDEL', room, 'anchor_absent_since_ms') == 1 then
    record_event(events, now, 'anchor_online', user_id)
  end
end

-- Makes `user_id` present in the room: keeps the join time of a member who is
-- still present, starts a new one otherwise. Returns 1 when the user was not
-- present before.
local function make_present(presence, joined, user_id, now, timeout_ms)
  local last = redis.call('ZSCORE', presence, user_id)
  local was_present = last and (tonumber(last) > now - timeout_ms)
  if not was_present then
    redis.call('ZADD', joined, now, user_id)
  end
  redis.call('ZADD', presence, now, user_id)
  if was_present then return 0 end
  return 1
end

-- Snapshot of a room: { {hash field, value, ...}, online_count, anchor_present, uv, now_ms }.
-- `online_count` counts members whose last heartbeat is within the timeout, so it
-- is exact without any background task. O(log N).
local function room_view(room, presence, uv, now, timeout_ms)
  local fields = redis.call('HGETALL', room)
  local cutoff = '(' .. (now - timeout_ms)
  local online = redis.call('ZCOUNT', presence, cutoff, '+inf')
  local anchor = redis.call('HGET', room, 'anchor')
  local anchor_present = 0
  local last = redis.call('ZSCORE', presence, anchor)
  if last and tonumber(last) > now - timeout_ms then anchor_present = 1 end
  return { fields, online, anchor_present, redis.call('PFCOUNT', uv), now }
end

-- Removes `user_id` from a room (presence and join order), recording member_left (or
-- member_expired for a stale entry) once; an anchor leaving its live room starts its
-- absence now (anchor_offline, once). Returns whether the user was present.
local function remove_member(room, presence, joined, events, user_id, now, timeout_ms)
  local last = redis.call('ZSCORE', presence, user_id)
  local present = last and tonumber(last) > now - timeout_ms
  redis.call('ZREM', joined, user_id)
  if redis.call('ZREM', presence, user_id) == 1 then
    record_event(events, now, present and 'member_left' or 'member_expired', user_id)
  end
  local state = redis.call('HMGET', room, 'anchor', 'live_status')
  if present and state[1] == user_id and tonumber(state[2]) == 1
    and redis.call('HSETNX', room, 'anchor_absent_since_ms', now) == 1 then
    record_event(events, now, 'anchor_offline', user_id)
  end
  return present
end

-- Score of a room in the search index: live rooms first, then newest created
-- (must match LIVE_BIT in src/store.rs).
local LIVE_BIT = 4398046511104 -- 2^42 ms, far above any created_ms
local function search_score(created_ms, live_status)
  if tonumber(live_status) == 1 then return tonumber(created_ms) + LIVE_BIT end
  return tonumber(created_ms)
end
