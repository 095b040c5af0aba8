/**
 * How bus names map onto NATS names. This is the wire layout other-language components use to
 * join a Woodwork system over NATS, so it is plain and documented in the README:
 *
 *   stream   `<PREFIX>_<topic token>`                      e.g. `WW_agent_2einput`
 *   subject  `<prefix>.<topic token>.<partition>.<key token>` e.g. `ww.agent_2einput.3.session-42`
 *   consumer `<group token>_p<partition>` (durable, one per partition and group)
 *
 * Tokens keep `[A-Za-z0-9-]` and write every other byte as `_` + two hex digits, so `.` (a subject
 * separator, illegal in stream names), `*`, `>`, spaces and `_` itself can never leak through, and
 * two different names never share a token.
 */
import { createHash } from 'node:crypto';

/** Default subject prefix; `<prefix>.>` is what a Woodwork deployment occupies in the account. */
export const DEFAULT_PREFIX = 'ww';

const KEEP = /[A-Za-z0-9-]/;
const encoder = new TextEncoder();
/** Longer tokens are cut and suffixed with a hash (`_h` can never come out of escaping). */
const MAX_TOKEN_LENGTH = 120;

function hashHex(value: string, length: number): string {
  return createHash('sha256').update(value).digest('hex').slice(0, length);
}

/** An injective, subject- and stream-name-safe token for a topic or group name. */
export function nameToken(name: string): string {
  let token = '';
  for (const char of name) {
    if (KEEP.test(char)) token += char;
    else for (const byte of encoder.encode(char)) token += `_${byte.toString(16).padStart(2, '0')}`;
  }
  if (token.length > MAX_TOKEN_LENGTH) token = `${token.slice(0, MAX_TOKEN_LENGTH - 34)}_h${hashHex(name, 32)}`;
  return token;
}

const SAFE_KEY = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The last subject token of a record: the key itself when it is already safe (session ids are
 * usually UUIDs), else `~` + a hash, and then the full key travels in the `Ww-Key` header.
 * Replay of one session filters on this token server-side.
 */
export function keyToken(key: string): string {
  return SAFE_KEY.test(key) ? key : `~${hashHex(key, 32)}`;
}

/** Header carrying the key when the subject only has its hash. */
export const KEY_HEADER = 'Ww-Key';

/**
 * Which partition a key lives in: FNV-1a (32-bit) over the key's UTF-8 bytes, modulo the
 * partition count. Simple enough to reimplement in any language that publishes to the bus.
 */
export function partitionOf(key: string, partitions: number): number {
  let hash = 0x811c9dc5;
  for (const byte of encoder.encode(key)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % partitions;
}

export interface TopicNames {
  readonly topic: string;
  readonly token: string;
  readonly stream: string;
  /** All subjects of the topic, as the stream binds them. */
  readonly streamSubjects: string;
}

export function topicNames(prefix: string, topic: string): TopicNames {
  const token = nameToken(topic);
  return {
    topic,
    token,
    stream: `${prefix.toUpperCase()}_${token}`,
    streamSubjects: `${prefix}.${token}.*.*`,
  };
}

/** The subject a record with `key` is published to. */
export function recordSubject(prefix: string, names: TopicNames, partitions: number, key: string): string {
  return `${prefix}.${names.token}.${partitionOf(key, partitions)}.${keyToken(key)}`;
}

/** The filter subject of one partition. */
export function partitionSubject(prefix: string, names: TopicNames, partition: number): string {
  return `${prefix}.${names.token}.${partition}.*`;
}

/** Durable consumer of one partition for one group. `_p` cannot occur inside an escaped token. */
export function consumerName(group: string, partition: number): string {
  return `${nameToken(group)}_p${partition}`;
}

/** The key token (last subject token) of a record subject. */
export function subjectKeyToken(subject: string): string {
  return subject.slice(subject.lastIndexOf('.') + 1);
}
