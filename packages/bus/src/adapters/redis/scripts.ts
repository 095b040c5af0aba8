/**
 * The Lua scripts of the redis bus. Each one is a decision that must not interleave with other
 * clients: who owns which partition, handing entries back, and how far a stream may be trimmed.
 * All keys a script touches share the topic's hash tag, so they run on Redis Cluster too.
 * Time comes from the server (`TIME`), so members never compare their own clocks.
 */
import type { RedisClient } from './driver.js';

/** Consumer name that holds entries given back by a member, for the partition's next owner. */
export const HANDOVER_CONSUMER = 'ww-handover';

const NOW = `local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)`;

/**
 * Appends records to their partition streams with entry ids drawn from ONE clock per topic, so
 * ids are strictly increasing across all partitions of the topic: replay merges partitions by id
 * into exactly the order Redis applied the publishes. The id is `<ms>-<seq>` like XADD `*` makes,
 * only topic-wide. (Lua numbers print exactly up to 14 digits: millisecond timestamps have 13.) Should a partition already hold a larger id (written with plain XADD `*` by
 * another tool), that record falls back to `*`.
 * KEYS: the topic clock, then the stream of each record. ARGV: body, message_id, session_id per record.
 */
const PUBLISH = `${NOW}
local ms, seq = now, -1
local clock = redis.call('GET', KEYS[1])
if clock then
  local dash = string.find(clock, '-', 1, true)
  local lastMs = tonumber(string.sub(clock, 1, dash - 1))
  if now <= lastMs then ms, seq = lastMs, tonumber(string.sub(clock, dash + 1)) end
end
local prefix = tostring(ms) .. '-'
for i = 2, #KEYS do
  local j = (i - 2) * 3 + 1
  seq = seq + 1
  local added = redis.pcall('XADD', KEYS[i], prefix .. seq, 'envelope', ARGV[j], 'message_id', ARGV[j + 1], 'session_id', ARGV[j + 2])
  if type(added) == 'table' and added.err then
    added = redis.call('XADD', KEYS[i], '*', 'envelope', ARGV[j], 'message_id', ARGV[j + 1], 'session_id', ARGV[j + 2])
    local dash = string.find(added, '-', 1, true)
    local addedMs, addedSeq = tonumber(string.sub(added, 1, dash - 1)), tonumber(string.sub(added, dash + 1))
    if addedMs > ms or (addedMs == ms and addedSeq > seq) then
      ms, seq = addedMs, addedSeq
      prefix = tostring(ms) .. '-'
    end
  end
end
redis.call('SET', KEYS[1], prefix .. seq)
return #KEYS - 1`;

/**
 * Heartbeat, renewal and fair-share acquisition in one step.
 * KEYS: members zset, the lease key of every partition in order, then every partition's orphan key
 * (set by a member that gave a partition up because a delivery there outlived the ack timeout).
 * ARGV: member, leaseMs, memberTtlMs, offset (where this member starts looking for free partitions).
 * A free partition orphaned by someone else is taken even beyond the fair share, so the stuck
 * delivery moves to another member at once; one orphaned by this member is left alone until the
 * orphan key expires (the cooldown) — unless this member is the only one left.
 * Returns { live members, fair share, status per partition: 0 not ours, 1 renewed, 2 acquired now,
 * 3 acquired now as an orphan }.
 */
const REBALANCE = `${NOW}
local me = ARGV[1]
local lease = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], now + ttl, me)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('PEXPIRE', KEYS[1], ttl * 4)
local live = redis.call('ZCARD', KEYS[1])
local partitions = (#KEYS - 1) / 2
local fair = math.ceil(partitions / live)
local result = { live, fair }
local owned = 0
local free = {}
local orphaned = {}
for i = 1, partitions do
  local holder = redis.call('GET', KEYS[1 + i])
  result[i + 2] = 0
  if holder == me then
    redis.call('PEXPIRE', KEYS[1 + i], lease)
    result[i + 2] = 1
    owned = owned + 1
  elseif not holder then
    local orphan = redis.call('GET', KEYS[1 + partitions + i])
    if not orphan then free[#free + 1] = i
    elseif orphan ~= me or live == 1 then orphaned[#orphaned + 1] = i end
  end
end
for _, i in ipairs(orphaned) do
  if redis.call('SET', KEYS[1 + i], me, 'PX', lease, 'NX') then
    result[i + 2] = 3
    owned = owned + 1
  end
end
local count = #free
if count > 0 and owned < fair then
  local start = tonumber(ARGV[4]) % count
  for k = 0, count - 1 do
    if owned >= fair then break end
    local i = free[((start + k) % count) + 1]
    if redis.call('SET', KEYS[1 + i], me, 'PX', lease, 'NX') then
      result[i + 2] = 2
      owned = owned + 1
    end
  end
end
return result`;

/**
 * Gives up leases (only those still ours) and, with ARGV[2] = '1', leaves the group's member set.
 * KEYS: members zset, then lease keys. ARGV: member, leave.
 */
const RELEASE = `local released = 0
for i = 2, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    redis.call('DEL', KEYS[i])
    released = released + 1
  end
end
if ARGV[2] == '1' then redis.call('ZREM', KEYS[1], ARGV[1]) end
return released`;

/**
 * Moves entries this member holds to the handover consumer, where the partition's next owner
 * claims them at once instead of waiting out their idle time. Only entries still pending under
 * this member move: one it lost to another owner in the meantime stays where it is.
 * ARGV[4] = '1' for entries that were read but never handed to a handler: their delivery count
 * is lowered back so the next owner's delivery counts as the first.
 * KEYS: stream. ARGV: group, member, handover consumer, never-started flag, ids…
 */
/**
 * Acknowledges entries of several partition streams in one call: what XACK does, once per stream.
 * A member's acknowledgements of one tick usually span several partitions; one script call costs
 * the client one command instead of one per partition (the client's per-command work, not Redis,
 * is what limits throughput). Nothing here needs atomicity; it is only batching.
 * KEYS: the streams. ARGV: group, then for each stream the number of its ids followed by the ids.
 */
const ACK = `local group = ARGV[1]
local acked = 0
local at = 2
for i = 1, #KEYS do
  local count = tonumber(ARGV[at])
  local first = at + 1
  local last = at + count
  -- unpack in slices: Lua's stack is limited to a few thousand values.
  for from = first, last, 500 do
    acked = acked + redis.call('XACK', KEYS[i], group, unpack(ARGV, from, math.min(from + 499, last)))
  end
  at = last + 1
end
return acked`;

const GIVE_BACK = `local moved = 0
for i = 5, #ARGV do
  local id = ARGV[i]
  local entry = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1)[1]
  if entry and entry[2] == ARGV[2] then
    local count = tonumber(entry[4])
    if ARGV[4] == '1' and count > 0 then count = count - 1 end
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[3], 0, id, 'RETRYCOUNT', count, 'JUSTID')
    moved = moved + 1
  end
end
return moved`;

/**
 * Re-takes an entry this member still holds: 'touch' resets its idle time (before handing out an
 * entry that waited in the local buffer), 'redeliver' also counts a delivery (a nak's redelivery).
 * Returns the entry's delivery count afterwards, or false when it is no longer ours.
 * KEYS: stream. ARGV: group, member, id, mode.
 */
const RETAKE = `local entry = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)[1]
if not entry or entry[2] ~= ARGV[2] then return false end
if ARGV[4] == 'touch' then
  redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')
  return tonumber(entry[4])
end
local claimed = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID', 'RETRYCOUNT', tonumber(entry[4]) + 1)
if #claimed == 0 then return false end
return tonumber(entry[4]) + 1`;

/**
 * Renews and re-counts entries this member holds, in one call for several partition streams:
 * for each (id, count) still pending under this member, XCLAIM … JUSTID to itself — which resets
 * the entry's idle time (its lease: other members take an entry only once idle past the lease)
 * and, with count >= 0, sets Redis' delivery counter to it (RETRYCOUNT; JUSTID alone leaves the
 * counter as it is). The counter is kept as "hand-outs to a handler", not reads: an entry read
 * ahead and not handed out is set back, and counted again when it is handed out. Entries no
 * longer pending under this member (acknowledged meanwhile, or taken by another member after a
 * pause) are left alone.
 * KEYS: streams. ARGV: group, member, then per stream: n, then n pairs of id and count (-1: renew only).
 * Returns how many entries were no longer ours.
 */
const MARK = `local group, me = ARGV[1], ARGV[2]
local at = 3
local lost = 0
for i = 1, #KEYS do
  local n = tonumber(ARGV[at])
  for k = 1, n do
    local id = ARGV[at + 2 * k - 1]
    local count = tonumber(ARGV[at + 2 * k])
    local entry = redis.call('XPENDING', KEYS[i], group, id, id, 1)[1]
    if entry and entry[2] == me then
      if count >= 0 then
        redis.call('XCLAIM', KEYS[i], group, me, 0, id, 'RETRYCOUNT', count, 'JUSTID')
      else
        redis.call('XCLAIM', KEYS[i], group, me, 0, id, 'JUSTID')
      end
    else
      lost = lost + 1
    end
  end
  at = at + 1 + 2 * n
end
return lost`;

/**
 * Trims one partition stream without ever dropping an entry some group still needs.
 * The floor: for every group, its oldest pending entry, or else its last-delivered id (entries
 * after it are not delivered yet; the last delivered one itself is kept, which costs one entry
 * and saves computing a successor id). XTRIM MINID keeps ids >= its argument, so nothing at or
 * above the floor is ever removed. Within that floor: the length bound (XTRIM MAXLEN when
 * everything it would drop is below the floor, else MINID floor) and the age bound (MINID of
 * min(now - retention, floor)). One script, so no group can appear or read between the look
 * and the trim.
 * KEYS: stream. ARGV: retentionMs, maxLen (0 = none). Returns entries removed.
 */
const TRIM = `if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local stream = KEYS[1]
local length = redis.call('XLEN', stream)
if length == 0 then return 0 end
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function less(a, b)
  local am, as = parse(a)
  local bm, bs = parse(b)
  if am ~= bm then return am < bm end
  return as < bs
end
local maxLen = tonumber(ARGV[2])
local floor = nil
local lagging = false
for _, group in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
  local info = {}
  for i = 1, #group, 2 do info[group[i]] = group[i + 1] end
  local need = info['last-delivered-id']
  if tonumber(info['pending']) > 0 then
    local oldest = redis.call('XPENDING', stream, info['name'])[2]
    if oldest and less(oldest, need) then need = oldest end
  end
  if type(info['lag']) == 'number' and maxLen > 0 and info['lag'] > maxLen then lagging = true end
  if floor == nil or less(need, floor) then floor = need end
end
local removed = 0
if maxLen > 0 and length > maxLen then
  local fits = floor == nil
  if floor ~= nil and not lagging then
    fits = #redis.call('XREVRANGE', stream, '+', floor, 'COUNT', maxLen + 1) <= maxLen
  end
  if fits then
    removed = removed + redis.call('XTRIM', stream, 'MAXLEN', maxLen)
  else
    removed = removed + redis.call('XTRIM', stream, 'MINID', floor)
  end
end
${NOW}
local aged = string.format('%.0f', now - tonumber(ARGV[1])) .. '-0'
if floor == nil or less(aged, floor) then floor = aged end
removed = removed + redis.call('XTRIM', stream, 'MINID', floor)
return removed`;

const SCRIPTS = {
  wwPublish: PUBLISH,
  wwRebalance: REBALANCE,
  wwRelease: RELEASE,
  wwGiveBack: GIVE_BACK,
  wwAck: ACK,
  wwRetake: RETAKE,
  wwMark: MARK,
  wwTrim: TRIM,
} as const;

type ScriptName = keyof typeof SCRIPTS;
type ScriptArgument = string | number | Buffer;

/** The scripts, registered on one connection (EVALSHA, falling back to EVAL after a restart). */
export class Scripts {
  constructor(private readonly client: RedisClient) {
    for (const [name, lua] of Object.entries(SCRIPTS)) client.defineCommand(name, { lua });
  }

  run(name: ScriptName, keys: readonly string[], args: readonly ScriptArgument[]): Promise<unknown> {
    const command = (this.client as unknown as Record<ScriptName, (...values: ScriptArgument[]) => Promise<unknown>>)[name];
    return command.call(this.client, keys.length, ...keys, ...args);
  }
}
