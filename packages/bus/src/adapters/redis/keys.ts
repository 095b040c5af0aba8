/**
 * Redis key layout of the redis bus and the session → partition hash. Everything a topic owns
 * starts with `<prefix>:{<topic>}`, so the part between the braces (the hash tag) is the topic:
 * on Redis Cluster all keys of one topic live in one slot, which is what lets one XREADGROUP read
 * several partition streams and one Lua script touch a group's leases together. Tools in other
 * languages must compute the partition the same way (FNV-1a, below) to keep a session's order.
 */

/** The keys of one topic. */
export interface TopicKeys {
  /** Hash `partitions` (fixed when the topic is first used). */
  readonly meta: string;
  /** The last entry id given out on the topic (`<ms>-<seq>`): one clock for all partitions. */
  readonly clock: string;
  /** Lock that lets one process trim the topic per interval. */
  readonly trimLock: string;
  /** The stream of partition `n`. */
  stream(partition: number): string;
  /** Sorted set of a group's live members, scored by heartbeat expiry (ms, Redis clock). */
  members(group: string): string;
  /** String holding the consumer name that owns partition `n` for a group, with a PX expiry. */
  lease(group: string, partition: number): string;
  /** Set (PX cooldown) by a member that gave partition `n` up because a delivery outlived the ack timeout. */
  orphan(group: string, partition: number): string;
}

export function topicKeys(prefix: string, topic: string): TopicKeys {
  const base = `${prefix}:{${topic}}`;
  // Named once: every publish, read and ack names streams, and a fresh string is hashed and
  // measured again by the client each time.
  const streams: string[] = [];
  return {
    meta: `${base}:meta`,
    clock: `${base}:clock`,
    trimLock: `${base}:trim-lock`,
    stream: (partition) => (streams[partition] ??= `${base}:p${partition}`),
    members: (group) => `${base}:g:${group}:members`,
    lease: (group, partition) => `${base}:g:${group}:lease:${partition}`,
    orphan: (group, partition) => `${base}:g:${group}:orphan:${partition}`,
  };
}

const encoder = new TextEncoder();

/**
 * FNV-1a (32-bit) of the key's UTF-8 bytes, modulo the topic's partition count. Chosen because it
 * is a dozen lines in any language and spreads short ids (uuids, `session-42`) evenly.
 */
export function partitionFor(key: string, partitions: number): number {
  let hash = 0x811c9dc5;
  // ASCII keys (uuids, the usual case) skip the encoder: same bytes, no allocation.
  let ascii = true;
  for (let index = 0; index < key.length; index++) {
    const code = key.charCodeAt(index);
    if (code > 0x7f) {
      ascii = false;
      break;
    }
  }
  if (ascii) {
    for (let index = 0; index < key.length; index++) {
      hash ^= key.charCodeAt(index);
      hash = Math.imul(hash, 0x01000193);
    }
  } else {
    for (const byte of encoder.encode(key)) {
      hash ^= byte;
      hash = Math.imul(hash, 0x01000193);
    }
  }
  return (hash >>> 0) % partitions;
}

/** Stream entry ids `<ms>-<seq>`, compared numerically (seq can exceed 2^53 in theory). */
export function compareEntryIds(a: string, b: string): number {
  const dashA = a.indexOf('-');
  const dashB = b.indexOf('-');
  const msA = a.slice(0, dashA);
  const msB = b.slice(0, dashB);
  if (msA !== msB) return msA.length - msB.length || (msA < msB ? -1 : 1);
  const seqA = a.slice(dashA + 1);
  const seqB = b.slice(dashB + 1);
  if (seqA === seqB) return 0;
  return seqA.length - seqB.length || (seqA < seqB ? -1 : 1);
}

/**
 * A delivery's position: partition and entry id, `p<n>-<ms>-<seq>` (for example `p3-1712345678901-0`).
 * Replay orders the partitions' entries by (entry id, partition), so a position is a point in that order.
 */
export function formatPosition(partition: number, id: string): string {
  return `p${partition}-${id}`;
}

export function parsePosition(position: string): { partition: number; id: string } | undefined {
  const match = /^p(\d+)-(\d+-\d+)$/.exec(position);
  if (match === null) return undefined;
  return { partition: Number(match[1]), id: match[2]! };
}
