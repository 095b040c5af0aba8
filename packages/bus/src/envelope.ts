/**
 * The envelope: the one JSON object every message on every bus is.
 *
 * Field names are the design document's (snake_case) so that a component written in another
 * language, or `redis-cli`, `nats` and `kcat`, can read and write it. `envelope.schema.json`
 * beside this file is the published JSON Schema of the same shape (`@woodwork/bus/schema`);
 * `parseEnvelope` is the validator used at the edge of every consumer.
 */
import { randomFillSync } from 'node:crypto';

/** Routing hints carried with a message: where it goes next and which pipes ran or will run. */
export interface EnvelopeRouting {
  next_component: string | null;
  pipe_chain: string[];
}

/** W3C trace context, so one session's path across processes is one trace. */
export interface EnvelopeTrace {
  traceparent: string;
  tracestate?: string;
}

export interface Envelope<Payload = unknown> {
  /** Unique per message; consumers drop duplicates by it. */
  message_id: string;
  /** The conversation this message belongs to; order is kept per session. */
  session_id: string;
  /** noun.verb, e.g. `input.received`, `agent.response`, `stream.chunk`. */
  event_type: string;
  component_source: string;
  component_target: string | null;
  /** ISO 8601, set when the envelope is created. */
  timestamp: string;
  stream_id: string | null;
  is_stream: boolean;
  chunk_index: number | null;
  is_final: boolean;
  payload: Payload;
  routing: EnvelopeRouting;
  /** 1 on first delivery; the bus raises it on each retry and records it in dead letters. */
  attempt: number;
  trace: EnvelopeTrace | null;
}

/** What a caller supplies to create an envelope; everything else gets its default. */
export type EnvelopeInit<Payload = unknown> = Pick<Envelope<Payload>, 'session_id' | 'event_type'> &
  Partial<Omit<Envelope<Payload>, 'session_id' | 'event_type' | 'routing'>> & {
    routing?: Partial<EnvelopeRouting>;
  };

// Random UUID v4s written as flat strings. `crypto.randomUUID()` returns a string built by
// concatenation, which V8 must flatten (allocate and copy) the first time anyone hashes or
// compares it — deduplication always does; this costs half as much in all.
const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');
const randomBytes = Buffer.allocUnsafe(16 * 512);
let randomOffset = randomBytes.length;
const idText = Buffer.allocUnsafe(36);

function newMessageId(): string {
  if (randomOffset === randomBytes.length) {
    randomFillSync(randomBytes);
    randomOffset = 0;
  }
  const offset = randomOffset;
  randomOffset += 16;
  randomBytes[offset + 6] = (randomBytes[offset + 6]! & 0x0f) | 0x40; // version 4
  randomBytes[offset + 8] = (randomBytes[offset + 8]! & 0x3f) | 0x80; // RFC 4122 variant
  let position = 0;
  for (let index = 0; index < 16; index++) {
    if (index === 4 || index === 6 || index === 8 || index === 10) idText[position++] = 0x2d; // '-'
    const byte = randomBytes[offset + index]!;
    idText[position++] = HEX_DIGITS[byte >> 4]!;
    idText[position++] = HEX_DIGITS[byte & 0x0f]!;
  }
  return idText.toString('latin1', 0, 36);
}

// `new Date().toISOString()` costs about 0.4 µs, most of an envelope's creation; envelopes made
// in the same millisecond share one string instead.
let clockMs = 0;
let clockIso = '';
function isoNow(): string {
  const now = Date.now();
  if (now !== clockMs) {
    clockMs = now;
    clockIso = new Date(now).toISOString();
  }
  return clockIso;
}

export function createEnvelope<Payload = unknown>(init: EnvelopeInit<Payload>): Envelope<Payload> {
  return {
    message_id: init.message_id ?? newMessageId(),
    session_id: init.session_id,
    event_type: init.event_type,
    component_source: init.component_source ?? 'unknown',
    component_target: init.component_target ?? null,
    timestamp: init.timestamp ?? isoNow(),
    stream_id: init.stream_id ?? null,
    is_stream: init.is_stream ?? false,
    chunk_index: init.chunk_index ?? null,
    is_final: init.is_final ?? false,
    payload: (init.payload ?? null) as Payload,
    routing: {
      next_component: init.routing?.next_component ?? null,
      pipe_chain: init.routing?.pipe_chain ?? [],
    },
    attempt: init.attempt ?? 1,
    trace: init.trace ?? null,
  };
}

export type EnvelopeCheck = { ok: true; envelope: Envelope } | { ok: false; reason: string };

const isString = (value: unknown): value is string => typeof value === 'string';
const isNullableString = (value: unknown) => value === null || typeof value === 'string';

/**
 * Checks an unknown value (already JSON-parsed) against the envelope contract.
 * Returns the first violation as a human-readable reason instead of throwing, because a malformed
 * message from the wire is data to dead-letter, not a crash.
 */
// Date.parse is the slowest check and consecutive envelopes mostly carry the same timestamp.
let lastValidTimestamp = '';
function isTimestamp(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  if (value === lastValidTimestamp) return true;
  if (Number.isNaN(Date.parse(value))) return false;
  lastValidTimestamp = value;
  return true;
}

/** The same rules as below as one expression, with no allocation: the path every valid envelope takes. */
function isValidEnvelope(record: Record<string, unknown>): boolean {
  const routing = record.routing as Record<string, unknown> | null | undefined;
  const trace = record.trace as Record<string, unknown> | null | undefined;
  const pipeChain = routing?.pipe_chain;
  const chunkIndex = record.chunk_index;
  const attempt = record.attempt;
  if (
    !(
      isString(record.message_id) &&
      record.message_id.length > 0 &&
      isString(record.session_id) &&
      record.session_id.length > 0 &&
      isString(record.event_type) &&
      record.event_type.length > 0 &&
      isString(record.component_source) &&
      isNullableString(record.component_target) &&
      isTimestamp(record.timestamp) &&
      isNullableString(record.stream_id) &&
      typeof record.is_stream === 'boolean' &&
      (chunkIndex === null || (Number.isInteger(chunkIndex) && (chunkIndex as number) >= 0)) &&
      typeof record.is_final === 'boolean' &&
      'payload' in record &&
      typeof routing === 'object' &&
      routing !== null &&
      isNullableString(routing.next_component) &&
      Array.isArray(pipeChain) &&
      Number.isInteger(attempt) &&
      (attempt as number) >= 1 &&
      (trace === null ||
        (typeof trace === 'object' &&
          trace !== undefined &&
          isString(trace.traceparent) &&
          (trace.tracestate === undefined || isString(trace.tracestate))))
    )
  ) {
    return false;
  }
  for (let index = 0; index < pipeChain.length; index++) if (!isString(pipeChain[index])) return false;
  return true;
}

export function checkEnvelope(value: unknown): EnvelopeCheck {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, reason: 'envelope must be a JSON object' };
  }
  const record = value as Record<string, unknown>;
  if (isValidEnvelope(record)) return { ok: true, envelope: record as unknown as Envelope };
  const problems: string[] = [];
  const need = (field: string, valid: boolean, expected: string) => {
    if (!valid) problems.push(`${field} must be ${expected}`);
  };
  need('message_id', isString(record.message_id) && record.message_id.length > 0, 'a non-empty string');
  need('session_id', isString(record.session_id) && record.session_id.length > 0, 'a non-empty string');
  need('event_type', isString(record.event_type) && record.event_type.length > 0, 'a non-empty string');
  need('component_source', isString(record.component_source), 'a string');
  need('component_target', isNullableString(record.component_target), 'a string or null');
  need('timestamp', isTimestamp(record.timestamp), 'an ISO 8601 date-time');
  need('stream_id', isNullableString(record.stream_id), 'a string or null');
  need('is_stream', typeof record.is_stream === 'boolean', 'a boolean');
  need(
    'chunk_index',
    record.chunk_index === null || (Number.isInteger(record.chunk_index) && (record.chunk_index as number) >= 0),
    'a non-negative integer or null',
  );
  need('is_final', typeof record.is_final === 'boolean', 'a boolean');
  need('payload', 'payload' in record, 'present (null is allowed)');
  const routing = record.routing as Record<string, unknown> | undefined;
  need(
    'routing',
    typeof routing === 'object' &&
      routing !== null &&
      isNullableString(routing.next_component) &&
      Array.isArray(routing.pipe_chain) &&
      routing.pipe_chain.every(isString),
    'an object { next_component: string | null, pipe_chain: string[] }',
  );
  need('attempt', Number.isInteger(record.attempt) && (record.attempt as number) >= 1, 'an integer >= 1');
  const trace = record.trace as Record<string, unknown> | null | undefined;
  need(
    'trace',
    trace === null ||
      (typeof trace === 'object' &&
        trace !== undefined &&
        isString(trace.traceparent) &&
        (trace.tracestate === undefined || isString(trace.tracestate))),
    'null or an object { traceparent: string, tracestate?: string }',
  );
  if (problems.length > 0) return { ok: false, reason: problems.join('; ') };
  return { ok: true, envelope: record as unknown as Envelope };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeEnvelope(envelope: Envelope): Uint8Array {
  return encodeJson(JSON.stringify(envelope));
}

/** The wire bytes of an envelope already serialised to JSON text. */
export function encodeJson(json: string): Uint8Array {
  return encoder.encode(json);
}

/** Decodes and validates wire bytes. Never throws: bad bytes, bad JSON and bad shape are reasons. */
export function decodeEnvelope(body: Uint8Array | string): EnvelopeCheck {
  let text: string;
  try {
    text = typeof body === 'string' ? body : decoder.decode(body);
  } catch {
    return { ok: false, reason: 'body is not valid UTF-8' };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, reason: `body is not JSON: ${(error as Error).message}` };
  }
  return checkEnvelope(value);
}

/**
 * Why `value` cannot travel as JSON, naming the field (`payload.user.id is a BigInt`), or
 * undefined when it can. The envelope is JSON on every broker, where `JSON.stringify` throws on
 * exactly two things — a BigInt and a cycle — so the embedded bus, which passes objects by
 * reference and never encodes them, checks the same two on publish: code that works embedded
 * then works distributed, and every adapter rejects with the same words. `toJSON` is honoured as
 * JSON does (a Date is a string). Paths are built only for the answer, not per field.
 */
export function findUnserializable(value: unknown, root: string): string | undefined {
  if (value === null || (typeof value !== 'object' && typeof value !== 'bigint')) return undefined;
  // Module-level stacks, reused: publishing a payload allocates nothing unless it is rejected.
  const found = visitForJson(value, '', root);
  pathKeys.length = 0;
  pathObjects.length = 0;
  return found;
}

const pathKeys: (string | number)[] = [];
const pathObjects: object[] = [];

function pathOf(root: string, depth: number): string {
  let path = root;
  for (let index = 0; index < depth; index++) {
    const key = pathKeys[index]!;
    path += typeof key === 'number' ? `[${key}]` : /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
  }
  return path;
}

function visitForJson(current: unknown, key: string | number, root: string): string | undefined {
  if (current !== null && typeof current === 'object' && typeof (current as { toJSON?: unknown }).toJSON === 'function') {
    current = (current as { toJSON: (key: string) => unknown }).toJSON(String(key));
  }
  if (typeof current === 'bigint') {
    return `${pathOf(root, pathKeys.length)} is a BigInt, which JSON cannot encode: send it as a string (or a number when it is small)`;
  }
  if (current === null || typeof current !== 'object') return undefined;
  const seenAt = pathObjects.indexOf(current);
  if (seenAt >= 0) {
    return `${pathOf(root, pathKeys.length)} refers back to ${pathOf(root, seenAt)}: a circular structure, which JSON cannot encode`;
  }
  pathObjects.push(current);
  if (Array.isArray(current)) {
    for (let index = 0; index < current.length; index++) {
      pathKeys.push(index);
      const found = visitForJson(current[index], index, root);
      if (found !== undefined) return found;
      pathKeys.pop();
    }
  } else {
    for (const name in current) {
      if (!Object.prototype.hasOwnProperty.call(current, name)) continue;
      pathKeys.push(name);
      const found = visitForJson((current as Record<string, unknown>)[name], name, root);
      if (found !== undefined) return found;
      pathKeys.pop();
    }
  }
  pathObjects.pop();
  return undefined;
}
