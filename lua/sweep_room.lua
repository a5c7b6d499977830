-- sweep_room.lua: one reaper step for one room (docs/DESIGN.md "Reaper"). Idempotent and
-- decided by Redis's clock, so two replicas that both believe they lead cannot
-- double-count or double-close: every transition is recorded only by the script
-- whose own write made it (ZREM / HSETNX returned 1, or live_status was still 1).
--   1. removes at most ARGV[3] members whose last heartbeat is older than the timeout
--      (event member_left, reason expired, each);
--   2. a live room whose anchor is not present gets `anchor_absent_since_ms` = the
--      moment the anchor's presence ran out (its last beat + timeout, or now when it
--      has no entry) and event anchor_offline;
--   3. a live room whose anchor has been absent for ARGV[2] ms is ended
--      (live_status 2, end_time now; event room_stopped, reason anchor_timeout);
--   4. reports a room with no members that is not live (or a deleted room) as idle;
--   5. computes the room's next visit for the reaper's deadline index (docs/DESIGN.md
--      "Reaper"): the earliest member's last beat + timeout, or an absent anchor's
--      close time (anchor_absent_since_ms + close-after), whichever is first; now
--      when stale members remain beyond the batch.
-- Only this room's keys, and on one Redis (ARGV[5] = '1') the room's partition of the
-- deadline index (lib.lua, reaper_due), rescheduled in this same atomic script so no
-- join can slip between the deadline and its write: a room with members or live gets
-- its next visit (at most one member timeout ahead, as on the Cluster: see below); an
-- idle room (no members, not live, not ended) leaves the index; an
-- ended room without members is left due (now) for the caller, which moves it out of
-- the live index and then out of the deadline index. The caller also moves an ended
-- room out of the live index and an idle room out of the active index
-- (src/store/lease.rs). On Redis Cluster (ARGV[5] = '') the script writes no index:
-- the caller reschedules with a compare-and-set (lua/reaper_reschedule.lua).
-- KEYS[1] room hash, KEYS[2] presence zset, KEYS[3] joined zset, KEYS[4] event stream.
-- ARGV[1] member timeout (ms), ARGV[2] anchor close-after (ms), ARGV[3] batch size.
-- ARGV[4] webhook marks: the key prefix when webhooks are on and this is one Redis,
--   else '' (lib.lua, WEBHOOK_MARKS); '?' on Redis Cluster with webhooks on while the
--   room is not yet marked due: a step that would record an event then writes
--   nothing and answers live_status -2 (mark the room, then call again with '').
--   So idle sweeps cost no mark.
-- ARGV[5] '1' on one Redis (reschedule the deadline index here), '' on Redis Cluster.
-- Returns { expired, anchor_offline (0/1), ended (0/1), more (1 when the batch was full),
--   members left in the presence set, idle (0/1), created_ms, live_status after the
--   step (-1: the room does not exist; -2: nothing done, mark the room due first),
--   next visit (ms; 0: leave the deadline index — ended without members, or deleted;
--   -1: already left it, idle on one Redis), now (ms, this node's clock) }.
-- Cost: O(batch * log N).
expect_counts('sweep_room', 4, 5)
REAPER_INDEX = ARGV[5] == '1'
local unmarked = ARGV[4] == '?'
if not unmarked then WEBHOOK_MARKS = ARGV[4] end
local timeout_ms, close_after_ms, batch =
  tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local room = redis.call('HMGET', KEYS[1], 'anchor', 'live_status', 'created_ms',
  'anchor_absent_since_ms')
if not room[1] then return { 0, 0, 0, 0, 0, 1, 0, -1, 0, 0 } end
local now = now_ms()
local cutoff = now - timeout_ms
local anchor, status = room[1], tonumber(room[2])

local anchor_last = redis.call('ZSCORE', KEYS[2], anchor)
local stale = redis.call('ZRANGE', KEYS[2], '-inf', cutoff, 'BYSCORE', 'LIMIT', 0, batch)

-- Not marked due yet (Cluster): stop before any write if this step would record.
if unmarked then
  local would = #stale > 0
  if status == 1 then
    if anchor_last and tonumber(anchor_last) > cutoff then
      would = would or room[4] ~= false
    else
      local since = tonumber(room[4])
      would = would or not since or now - since >= close_after_ms
    end
  end
  if would then return { 0, 0, 0, 0, 0, 0, tonumber(room[3]) or 0, -2, 0, 0 } end
end
local expired = 0
for _, member in ipairs(stale) do
  if redis.call('ZREM', KEYS[2], member) == 1 then
    redis.call('ZREM', KEYS[3], member)
    record_event(KEYS[1], KEYS[2], KEYS[4], now, timeout_ms, 'member_left',
      { user = member, reason = 'expired' })
    expired = expired + 1
  end
end

local offline, ended = 0, 0
local absent_since = nil -- anchor_absent_since_ms after this step (live rooms)
if status == 1 then
  local present = anchor_last and tonumber(anchor_last) > cutoff
  if present then
    if room[4] and redis.call('HDEL', KEYS[1], 'anchor_absent_since_ms') == 1 then
      record_event(KEYS[1], KEYS[2], KEYS[4], now, timeout_ms, 'anchor_online',
        { user = anchor })
    end
  else
    local since = tonumber(room[4])
    if not since then
      since = now
      if anchor_last then since = math.min(now, tonumber(anchor_last) + timeout_ms) end
      if redis.call('HSETNX', KEYS[1], 'anchor_absent_since_ms', since) == 1 then
        record_event(KEYS[1], KEYS[2], KEYS[4], now, timeout_ms, 'anchor_offline',
          { user = anchor })
        offline = 1
      else
        since = tonumber(redis.call('HGET', KEYS[1], 'anchor_absent_since_ms')) or since
      end
    end
    absent_since = since
    if now - since >= close_after_ms then
      redis.call('HSET', KEYS[1], 'live_status', 2, 'end_time', math.floor(now / 1000))
      record_event(KEYS[1], KEYS[2], KEYS[4], now, timeout_ms, 'room_stopped',
        { reason = 'anchor_timeout' })
      ended = 1
      status = 2
    end
  end
end

local remaining = redis.call('ZCARD', KEYS[2])
local idle = 0
if status ~= 1 and remaining == 0 then idle = 1 end
local more = 0
if #stale >= batch then more = 1 end

-- The next visit: the earliest member's deadline, an absent anchor's close time.
local next_due = nil
local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
if first[2] then next_due = tonumber(first[2]) + timeout_ms end
if status == 1 and absent_since
  and (not next_due or absent_since + close_after_ms < next_due) then
  next_due = absent_since + close_after_ms
end
if more == 1 then next_due = now end
if not next_due then
  if status == 2 then
    next_due = 0 -- ended, no members: the caller unlists it, then leaves the index
  elseif REAPER_INDEX then
    next_due = -1 -- idle: out of the index in this script (a join puts it back)
  else
    next_due = now + timeout_ms -- Cluster: idle rooms stay (docs/DESIGN.md "Reaper")
  end
end
if REAPER_INDEX then
  -- Capped at now + timeout, as on the Cluster: so a room that stays indexed (every
  -- live room) is visited at least once per timeout, and a step that makes someone
  -- present there without marking the index (a media server's publish, which only
  -- live rooms accept) gives that member a deadline no earlier than the next visit.
  if next_due > 0 then next_due = math.min(next_due, now + timeout_ms) end
  local key, live_id = reaper_due_key(KEYS[1])
  if next_due == -1 then
    redis.call('ZREM', key, live_id)
  elseif next_due == 0 then
    redis.call('ZADD', key, now, live_id)
  else
    redis.call('ZADD', key, next_due, live_id)
  end
end
return { expired, offline, ended, more, remaining, idle, tonumber(room[3]) or 0, status,
  next_due, now }
