-- lib.lua: helpers prepended to every script but heartbeat.lua (src/store/scripts.rs).
-- Nothing here runs on its own; each helper is O(1) unless noted.
--
-- Key layout (docs/DESIGN.md, invariant 3; defined in src/store/keys.rs): every key of
-- a room shares the hash tag `{live_id}`: `<prefix>:{<live_id>}:room|presence|joined|uv|events`.
-- Every script but the single-Redis ones (lib_single.lua) touches the keys of one hash
-- slot only (one room, one user, or the `{global}` indexes), so they run unchanged on
-- Redis Cluster.
--
-- Replies: a script that can refuse returns { status, ... } where status is 'ok' or a
-- domain outcome ('not_found', 'ended', 'not_anchor', 'not_present', 'not_live',
-- 'taken', 'too_many_keys', 'needs_im_userid'); src/store/replies.rs reads them.

-- Stops a call whose KEYS / ARGV counts differ from the script's header (a caller
-- bug), naming the script. `more_keys` allows more KEYS than `nkeys` (index_room.lua).
local function expect_counts(script, nkeys, nargv, more_keys)
  local keys_ok = #KEYS == nkeys or (more_keys and #KEYS > nkeys)
  if not keys_ok or #ARGV ~= nargv then
    error(script .. ': called with ' .. #KEYS .. ' KEYS and ' .. #ARGV .. ' ARGV, expects '
      .. nkeys .. (more_keys and ' or more' or '') .. ' KEYS and ' .. nargv .. ' ARGV')
  end
end

-- Redis's own clock in milliseconds (SPEC §6: one clock for every timeout).
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- The room event stream (docs/SPEC.md §10 "Room events"). Each entry is one state
-- change, appended by the script whose own write made it (ZREM / HDEL / HSETNX returned
-- 1, live_status moved), so each change is recorded exactly once; its stream id, unique
-- and increasing within the room, makes the event's `id` (`<live_id>:<stream id>`).
-- Fields: event, created_at (ms, Redis TIME), live_id, title, anchor, live_status,
-- online_count (after the change), then user, reason, extends, by (the server key id
-- of a server stop or kick), note (the server's reason text), changes (room_updated:
-- JSON of the changed fields) where the event has them.
-- The stream keeps about EVENTS_MAXLEN entries (MAXLEN ~ trims whole nodes: between
-- 1000 and about 1100); a deleted room's stream is kept EVENTS_RETAIN_MS (24 h) more.
local EVENTS_MAXLEN = 1000 -- written as '1000' in record_event's XADD
local EVENTS_RETAIN_MS = 86400000

-- Webhook due marks (src/webhooks/deliver.rs, src/store/webhooks.rs). On one Redis
-- every script that records events takes the key prefix as its last ARGV when
-- webhooks are on ('' = off) and sets WEBHOOK_MARKS from it; record_event then marks
-- the room due in the same atomic write, so no event is ever without its mark. On
-- Redis Cluster it stays '' (the mark would be another slot): the store writes the
-- mark (webhook_mark.lua) before sending the step.
local WEBHOOK_MARKS = ''

-- The webhook shard of a room (0-15): first 2 bytes of SHA-1(live_id) mod 16, the
-- Lua twin of `webhook_shard` in src/store/keys.rs (a test holds them equal).
local function webhook_shard(live_id)
  return tonumber(string.sub(redis.sha1hex(live_id), 1, 4), 16) % 16
end

-- Marks room `live_id` due for webhook delivery at `now` (ms), when marks are on.
-- O(log N).
local function webhook_mark(live_id, now)
  if WEBHOOK_MARKS ~= '' and live_id and live_id ~= '' then
    redis.call('ZADD', WEBHOOK_MARKS .. ':{webhooks:' .. webhook_shard(live_id) .. '}:due',
      now, live_id)
  end
end

-- Appends event `kind` about the room at `room` (hash) to `events` (and marks the
-- room due for webhooks, see WEBHOOK_MARKS). `now` (ms) may be a number or its decimal
-- string (a string goes into the commands without formatting). `opts` (optional):
-- user (the member concerned), reason, extends (JSON), by (server key id), note (the
-- server's reason text), changes (JSON, room_updated), online (the count to report
-- instead of the presence set's), room (a table with the room hash's live_id, title,
-- anchor and live_status, when the caller has read them: saves the HMGET).
-- Returns the online_count recorded. O(log N) for the count.
local function record_event(room, presence, events, now, timeout_ms, kind, opts)
  opts = opts or {}
  local r = opts.room
  if not r then
    local v = redis.call('HMGET', room, 'live_id', 'title', 'anchor', 'live_status')
    r = { live_id = v[1], title = v[2], anchor = v[3], live_status = v[4] }
  end
  local online = opts.online
  if not online then
    online = redis.call('ZCOUNT', presence, string.format('(%d', now - timeout_ms), '+inf')
  end
  local fields = { 'event', kind, 'created_at', now, 'live_id', r.live_id or '',
    'title', r.title or '', 'anchor', r.anchor or '', 'live_status', r.live_status or '0',
    'online_count', string.format('%d', online) }
  -- Unrolled (no table per call): user, reason, extends, by, note, changes.
  local n = 14
  if opts.user and opts.user ~= '' then
    fields[n + 1], fields[n + 2], n = 'user', opts.user, n + 2
  end
  if opts.reason and opts.reason ~= '' then
    fields[n + 1], fields[n + 2], n = 'reason', opts.reason, n + 2
  end
  if opts.extends and opts.extends ~= '' then
    fields[n + 1], fields[n + 2], n = 'extends', opts.extends, n + 2
  end
  if opts.by and opts.by ~= '' then fields[n + 1], fields[n + 2], n = 'by', opts.by, n + 2 end
  if opts.note and opts.note ~= '' then
    fields[n + 1], fields[n + 2], n = 'note', opts.note, n + 2
  end
  if opts.changes and opts.changes ~= '' then
    fields[n + 1], fields[n + 2] = 'changes', opts.changes
  end
  redis.call('XADD', events, 'MAXLEN', '~', '1000', '*', unpack(fields))
  webhook_mark(r.live_id, now)
  return online
end

-- The anchor is back (start / join of its own room): clears the absence mark the
-- reaper or a leave set, recording `anchor_online` once.
local function mark_anchor_back(room, presence, events, user_id, now, timeout_ms)
  if redis.call('HGET', room, 'anchor') == user_id
    and redis.call('HDEL', room, 'anchor_absent_since_ms') == 1 then
    record_event(room, presence, events, now, timeout_ms, 'anchor_online',
      { user = user_id })
  end
end

-- The reaper's deadline index (docs/DESIGN.md "Reaper"): `reaper_due(room, due_ms)` is
-- defined at the end of this file; declared here so make_present can call it.
local REAPER_INDEX, reaper_due = false, nil

-- Makes `user_id` present in the room: keeps the join time of a member who is
-- still present, starts a new one otherwise (member_joined; a stale entry it
-- replaces is first recorded as member_left, reason expired). `now` (ms): a number or
-- its decimal string. `known` (optional): record_event's opts.room, when the caller has
-- read the room hash. Returns 1 when the user was not present before (else 0), and
-- the online_count after the change when it counted one (member_joined), else nil.
-- A new member costs ZADD NX, ZADD (join order) and the event (ZCOUNT, XADD); one
-- still present ZADD NX, ZSCORE, ZADD. O(log N).
local function make_present(room, presence, joined, events, user_id, now, timeout_ms, known)
  local joined_now, online = 1, nil
  if redis.call('ZADD', presence, 'NX', now, user_id) == 0 then
    -- An entry already: still present keeps its join time; a stale one is replaced.
    if tonumber(redis.call('ZSCORE', presence, user_id)) > now - timeout_ms then
      joined_now = 0
    else
      record_event(room, presence, events, now, timeout_ms, 'member_left',
        { user = user_id, reason = 'expired', room = known })
    end
    redis.call('ZADD', presence, now, user_id)
  end
  reaper_due(room, now + timeout_ms)
  if joined_now == 1 then
    redis.call('ZADD', joined, now, user_id)
    online = record_event(room, presence, events, now, timeout_ms, 'member_joined',
      { user = user_id, room = known })
  end
  return joined_now, online
end

-- Bans and kick marks (SPEC §11). A room's `bans` zset maps a banned user to the end
-- of its ban (ms, Redis TIME); its `kicked` zset maps a kicked user to the kick time,
-- so the user's next heartbeat can say it was removed, kept KICKED_RETAIN_MS and at
-- most KICKED_MAX entries (pruned by each kick; a join of the user removes its mark).
local KICKED_RETAIN_MS = 600000
local KICKED_MAX = 1000

-- The end (ms) of `user_id`'s active ban in `bans`, or nil. An expired entry is
-- removed (a ban ends by Redis's clock). O(log N).
local function active_ban(bans, user_id, now)
  local until_ms = redis.call('ZSCORE', bans, user_id)
  if not until_ms then return nil end
  if tonumber(until_ms) > now then return tonumber(until_ms) end
  redis.call('ZREM', bans, user_id)
  return nil
end

-- Snapshot of a room: { {hash field, value, ...}, online_count, anchor_present, uv, now_ms }.
-- `online_count` counts members whose last heartbeat is within the timeout, so it
-- is exact without any background task. O(log N).
local function room_view(room, presence, uv, now, timeout_ms)
  local fields = redis.call('HGETALL', room)
  local anchor
  for i = 1, #fields, 2 do
    if fields[i] == 'anchor' then anchor = fields[i + 1]; break end
  end
  local cutoff = now - timeout_ms
  local online = redis.call('ZCOUNT', presence, '(' .. cutoff, '+inf')
  local anchor_present = 0
  local last = anchor and redis.call('ZSCORE', presence, anchor)
  if last and tonumber(last) > cutoff then anchor_present = 1 end
  return { fields, online, anchor_present, redis.call('PFCOUNT', uv), now }
end

-- Removes `user_id` from a room (presence and join order), recording member_left
-- once: with `reason` ('leave', 'switched' or 'kicked') when it was present, 'expired'
-- for a stale entry; `extra` (optional) adds by / note to that event. `now` (ms): a
-- number or its decimal string. An anchor leaving
-- its live room starts its absence now (anchor_offline, once). Returns whether the
-- user was present.
local function remove_member(room, presence, joined, events, user_id, now, timeout_ms, reason,
                             extra)
  local last = redis.call('ZSCORE', presence, user_id)
  local present = last and tonumber(last) > now - timeout_ms
  redis.call('ZREM', joined, user_id)
  if redis.call('ZREM', presence, user_id) == 1 then
    local opts = { user = user_id, reason = present and reason or 'expired' }
    if present and extra then opts.by, opts.note = extra.by, extra.note end
    record_event(room, presence, events, now, timeout_ms, 'member_left', opts)
  end
  local state = redis.call('HMGET', room, 'anchor', 'live_status')
  if present and state[1] == user_id and tonumber(state[2]) == 1
    and redis.call('HSETNX', room, 'anchor_absent_since_ms', now) == 1 then
    record_event(room, presence, events, now, timeout_ms, 'anchor_offline',
      { user = user_id })
  end
  return present
end

-- Merges an extends patch (JSON object of strings; an empty value removes the key)
-- into `current` (stored JSON, or nil). Returns the JSON to store, or nil when more
-- than `max_keys` keys would remain (SPEC §7). O(keys).
local function merge_extends(current, patch, max_keys)
  local extends = cjson.decode(current or '{}')
  for k, v in pairs(cjson.decode(patch)) do
    if v == '' then extends[k] = nil else extends[k] = v end
  end
  local count = 0
  for _ in pairs(extends) do count = count + 1 end
  if count > max_keys then return nil end
  if count == 0 then return '{}' end
  return cjson.encode(extends)
end

-- Score of a room in the search index: live rooms first, then newest created
-- (must match LIVE_BIT in src/store/index.rs).
local LIVE_BIT = 4398046511104 -- 2^42 ms, far above any created_ms
local function search_score(created_ms, live_status)
  if tonumber(live_status) == 1 then return tonumber(created_ms) + LIVE_BIT end
  return tonumber(created_ms)
end

-- Redis's clock as (ms number, the same as a decimal string): the string goes into
-- commands without number formatting (each number argument of redis.call costs a
-- printf). O(1).
local function clock_ms()
  local t = redis.call('TIME')
  local us = t[2]
  local s = t[1] .. string.sub('00' .. (#us > 3 and string.sub(us, 1, -4) or '0'), -3)
  return tonumber(s), s
end

-- A member's view of a room it has just joined (the join's reply; src/store/replies.rs,
-- `JoinView`): { values of the room hash fields live_status, anchor, title, notice,
-- cover_url, extends, pk_id, start_time, end_time, chat_id, publish_expire_at,
-- stream_until_ms (`view`, read by join_room.lua / room_add_member.lua with one HMGET in that order;
-- false where missing), pv, online_count, anchor_present, uv, now_ms }. `online` is
-- the count when the caller has it (make_present's), else counted here; the anchor is
-- present when it is `user_id` (just made present) or beat within the timeout.
-- The room's live_id is the caller's. O(log N).
local function member_view(view, presence, uv, user_id, pv, now, timeout_ms, online)
  local cutoff = now - timeout_ms
  if not online then
    online = redis.call('ZCOUNT', presence, string.format('(%d', cutoff), '+inf')
  end
  local anchor, anchor_present = view[2], 0
  if anchor == user_id then
    anchor_present = 1
  elseif anchor then
    local last = redis.call('ZSCORE', presence, anchor)
    if last and tonumber(last) > cutoff then anchor_present = 1 end
  end
  return { view, pv, online, anchor_present, redis.call('PFCOUNT', uv), now }
end

-- The reaper's deadline index (docs/DESIGN.md "Reaper", src/store/keys.rs): 16
-- partitions `<prefix>:{reaper:n}:due`, zsets of live_id → the ms by which the room
-- must be visited (its earliest member can have expired, or an absent anchor's close
-- time arrives); partition n = the room's webhook shard (webhook_shard above). On
-- one Redis REAPER_INDEX is true (set by reaper_single.lua, prepended to the one-Redis
-- join and start scripts, and by sweep_room.lua from its ARGV) and every script that
-- makes a member present marks the room here in the same atomic write; on Redis
-- Cluster it stays false (another slot) and the store marks the room first
-- (reaper_mark.lua). The prefix and live_id come from the room hash's key name
-- (`<prefix>:{<live_id>}:room`).
-- The partition zset of the room whose hash is `room`, and its live_id.
local function reaper_due_key(room)
  local prefix, live_id = string.match(room, '^(.*):{([%w_%-]+)}:room$')
  if not prefix then return nil, nil end
  return prefix .. ':{reaper:' .. webhook_shard(live_id) .. '}:due', live_id
end

-- Marks the room due by `due_ms` (earlier wins: ZADD LT), when REAPER_INDEX is on.
-- O(log N).
reaper_due = function(room, due_ms)
  if not REAPER_INDEX then return end
  local key, live_id = reaper_due_key(room)
  if key then redis.call('ZADD', key, 'LT', due_ms, live_id) end
end
