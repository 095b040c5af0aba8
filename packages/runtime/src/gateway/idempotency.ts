/**
 * `Idempotency-Key` (draft-ietf-httpapi-idempotency-key-header, as Stripe serves it): a POST sent
 * again with the key it was first sent with answers as the first did instead of starting a second
 * turn. The key's record lives in the session store (`SessionClient.records`), so a retry that
 * reaches another gateway instance — the first one died with the request — finds it too.
 *
 * A record goes through three states: `accepting` (claimed with SET NX before the input is sent),
 * `started` (the input is on the bus) and `completed` (the turn's answer, written by the gateway
 * that waited for it). The input's message id and turn id are derived from the key, so an input
 * sent again by a gateway that takes over an abandoned `accepting` record is the same message on
 * the bus, which consumers drop as a copy if the first one got out.
 */
import { createHash } from 'node:crypto';
import type { Context } from 'hono';
import { EventTypes, textOf } from '../events.js';
import { traceIdOf } from '../trace.js';
import type { JsonValue, SessionClient, SessionEvent, SessionRecords, TurnResult } from '../types.js';
import { GatewayRequestError } from './http-error.js';
import { turnResponse } from './session-access.js';
import type { GatewayTurnResponse } from './types.js';

export const IDEMPOTENCY_HEADER = 'Idempotency-Key';
/** Set to `true` on an answer that repeats an earlier request's (Stripe's name for it). */
export const REPLAYED_HEADER = 'Idempotent-Replayed';

/**
 * How long a record may stay `accepting` before a retry takes the request over. Accepting is one
 * store round trip and one publish, so a record this old was left by a gateway that died; until
 * then a retry is answered `409 idempotency_key_in_use`.
 */
export const ACCEPTING_LEASE_MS = 10_000;
/** How often a retry of a turn still running looks whether its answer was recorded. */
const POLL_MS = 100;

export interface IdempotencyRecord {
  readonly state: 'accepting' | 'started' | 'completed';
  /** The route and body the key was first used with (sha256): a different request under the key is refused. */
  readonly fingerprint: string;
  readonly session_id: string;
  readonly turn_id: string;
  readonly message_id: string;
  readonly accepted_at: number;
  /** The status of the turn's answer (201 for a new session, 200 for a message). */
  readonly status: number;
  /** With `completed`: the body the first request answered with. */
  readonly response?: GatewayTurnResponse;
}

/** The request's key, or undefined without the header (then nothing here runs: no store round trip). */
export function idempotencyKeyOf(c: Context): string | undefined {
  const raw = c.req.header(IDEMPOTENCY_HEADER);
  if (raw === undefined) return undefined;
  // The draft sends the key as a structured-field string ("…"); Stripe's clients send it bare.
  let key = raw.trim();
  if (key.length >= 2 && key.startsWith('"') && key.endsWith('"')) key = key.slice(1, -1);
  if (key.length === 0 || key.length > 255 || !/^[\x20-\x7e]+$/.test(key)) {
    throw new GatewayRequestError('invalid_request', `the ${IDEMPOTENCY_HEADER} header must be 1 to 255 printable ASCII characters, such as a UUID`, {
      param: IDEMPOTENCY_HEADER,
    });
  }
  return key;
}

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/**
 * What the gateway needs to send a request under a key. Everything is derived from the principal,
 * the scope (the session, or `sessions` for a new one) and the key, so two keys never collide and
 * another client's key is never seen.
 */
export class IdempotentRequest {
  readonly recordKey: string;
  readonly turnId: string;
  readonly messageId: string;
  readonly fingerprint: string;
  /** The record as this request claimed it. */
  private current: IdempotencyRecord | undefined;

  constructor(
    private readonly records: SessionRecords,
    private readonly ttlMs: number,
    principal: string,
    scope: string,
    key: string,
    route: string,
    body: Record<string, unknown>,
    private readonly status: number,
  ) {
    const identity = sha256(`${principal}\u0000${scope}\u0000${key}`);
    this.recordKey = `gateway:idempotency:${identity}`;
    this.turnId = sha256(`${identity}\u0000turn`).slice(0, 32);
    const id = sha256(`${identity}\u0000message`);
    this.messageId = `${id.slice(0, 8)}-${id.slice(8, 12)}-${id.slice(12, 16)}-${id.slice(16, 20)}-${id.slice(20, 32)}`;
    // `wait` only says how the answer comes, not what is asked: a retry may change it.
    const { wait: _wait, ...asked } = body;
    this.fingerprint = sha256(`${route}\u0000${JSON.stringify(asked)}`);
  }

  /**
   * Claims the key for this request (SET NX). Undefined when this request is the first (or takes
   * over one abandoned while accepting): send the input. Otherwise the record of the first, whose
   * request was the same one (`idempotency_key_reused` otherwise) and which is not being accepted
   * at this moment (`idempotency_key_in_use`).
   */
  async claim(sessionId: string): Promise<IdempotencyRecord | undefined> {
    const fresh: IdempotencyRecord = {
      state: 'accepting',
      fingerprint: this.fingerprint,
      session_id: sessionId,
      turn_id: this.turnId,
      message_id: this.messageId,
      accepted_at: Date.now(),
      status: this.status,
    };
    const held = (await this.records.putIfAbsent(this.recordKey, fresh as unknown as JsonValue, this.ttlMs)) as IdempotencyRecord | undefined;
    if (held === undefined) {
      this.current = fresh;
      return undefined;
    }
    if (held.fingerprint !== this.fingerprint) {
      throw new GatewayRequestError(
        'idempotency_key_reused',
        `the ${IDEMPOTENCY_HEADER} was first used with another request (another body or route); send this request with a new key`,
        { param: IDEMPOTENCY_HEADER },
      );
    }
    if (held.state !== 'accepting') return held;
    if (Date.now() - held.accepted_at < ACCEPTING_LEASE_MS) {
      throw new GatewayRequestError('idempotency_key_in_use', `a request with this ${IDEMPOTENCY_HEADER} is still being accepted; retry in a second`, {
        param: IDEMPOTENCY_HEADER,
        retryAfterMs: 1_000,
      });
    }
    // The gateway that claimed it died before the input was surely out: this one sends it again,
    // under the same message id and turn id, into the session the first one named.
    this.current = { ...held, accepted_at: Date.now() };
    await this.records.put(this.recordKey, this.current as unknown as JsonValue, this.ttlMs);
    return undefined;
  }

  /** The input could not be sent (the session is not the client's, the runtime is stopping): the key is free again. */
  async abandon(): Promise<void> {
    await this.records.put(this.recordKey, this.current as unknown as JsonValue, 1);
  }

  /** The session the claimed record names (a new session's id is chosen before it is created, so a takeover creates the same one). */
  get sessionId(): string {
    return this.current!.session_id;
  }

  /** The input is on the bus. */
  async started(): Promise<void> {
    this.current = { ...this.current!, state: 'started' };
    await this.records.put(this.recordKey, this.current as unknown as JsonValue, this.ttlMs);
  }

  /** The turn's answer, for the retries to come. */
  async completed(response: GatewayTurnResponse): Promise<void> {
    this.current = { ...this.current!, state: 'completed', response };
    await this.records.put(this.recordKey, this.current as unknown as JsonValue, this.ttlMs);
  }

  /**
   * The answer of a started turn, within `timeoutMs`: recorded by the gateway that sent it, or —
   * when that gateway died with the request, so nobody will record it — seen here in the session's
   * events (those this instance kept, then live ones), and then recorded for the next retry.
   * Undefined when neither came in time (the turn is slow, or ended before this instance saw it).
   */
  async completion(held: IdempotencyRecord, sessions: SessionClient, timeoutMs: number, closing: AbortSignal): Promise<GatewayTurnResponse | undefined> {
    const done = new AbortController();
    const stop = () => done.abort();
    closing.addEventListener('abort', stop, { once: true });
    const timer = setTimeout(stop, timeoutMs);
    try {
      const seen = turnFromEvents(sessions, held, done.signal).then(async (result) => {
        if (result === undefined) return undefined;
        const response = turnResponse(result);
        this.current = { ...held, state: 'completed', response };
        await this.records.put(this.recordKey, this.current as unknown as JsonValue, this.ttlMs);
        return response;
      });
      const recorded = (async () => {
        while (!done.signal.aborted) {
          const record = (await this.records.get(this.recordKey)) as IdempotencyRecord | undefined;
          if (record?.state === 'completed') return record.response;
          await new Promise((resolve) => setTimeout(resolve, POLL_MS));
        }
        return undefined;
      })();
      // The first that has the answer wins; both give up when `done` aborts.
      return await Promise.race([
        seen.then((response) => response ?? recorded),
        recorded.then((response) => response ?? seen),
      ]);
    } finally {
      clearTimeout(timer);
      closing.removeEventListener('abort', stop);
      done.abort();
    }
  }
}

/** A turn's result from the session's events, as the runtime builds it; undefined when `signal` aborts or the session ends first. */
async function turnFromEvents(sessions: SessionClient, held: IdempotencyRecord, signal: AbortSignal): Promise<TurnResult | undefined> {
  const replies: SessionEvent[] = [];
  const errors: SessionEvent[] = [];
  for await (const event of sessions.events(held.session_id, { signal })) {
    if (event.event_type === EventTypes.sessionEnded) return undefined;
    if (traceIdOf(event.trace) !== held.turn_id) continue;
    if (event.event_type === EventTypes.sessionReplied) replies.push(event);
    else if (event.event_type === EventTypes.agentError) errors.push(event);
    else if (event.event_type === EventTypes.turnCompleted) {
      return {
        sessionId: held.session_id,
        turnId: held.turn_id,
        ok: errors.length === 0,
        replies,
        errors,
        text: replies.map((reply) => textOf(reply.payload)).join('\n'),
      };
    }
  }
  return undefined;
}
