/**
 * The API gateway's contract: the options of `startGateway()` and of the `input api` component,
 * and what travels over the wire (error bodies, turn results, WebSocket frames). README.md beside
 * this file walks through the endpoints; every option below states its default and why.
 *
 * The gateway is a client of the runtime like any embedding app: it starts sessions, sends input
 * and reads a session's events through a `SessionClient` (`context.sessions` of the component, or
 * a `Runtime`). It owns nothing the runtime does not already keep.
 */
import type { MetricsEmitter } from '@woodwork/metrics';
import type { Topology } from '@woodwork/parser';
import type { JsonValue, Logger, SessionEvent } from '../types.js';

// ---------------------------------------------------------------------------------------------
// Options

export interface GatewayAuthOptions {
  /**
   * The API keys (bearer tokens) clients may present. Each key is its own client: a session belongs
   * to the key that created it and no other key can read or write it. Keys from `WOODWORK_API_KEYS`
   * (comma-separated) are added, so operators can rotate keys without editing the `.ww` file.
   * Empty strings are ignored (an unset `${KEY:-}`).
   */
  readonly keys?: readonly string[];
  /**
   * The header that carries the key. Default `authorization`, read as `Bearer <key>`, which is what
   * OpenAI clients send. Another header (`x-api-key`) carries the bare key; `Authorization: Bearer`
   * is accepted as well, so OpenAI clients keep working.
   */
  readonly header?: string;
}

export interface GatewayCorsOptions {
  /**
   * Origins allowed to call the API from a browser (`https://app.example.com`), or `["*"]` for any.
   * Credentials (cookies) are never allowed: clients authenticate with a header.
   */
  readonly origins: readonly string[];
  /** How long a browser may cache a preflight answer. Default 600 s: fewer preflights, changes still seen within minutes. */
  readonly maxAgeSeconds?: number;
}

export interface GatewayRateLimitOptions {
  /** Sustained requests per minute per client (per API key; per address without auth). */
  readonly requestsPerMinute: number;
  /** Requests a client may make at once before the sustained rate applies. Default: half a minute's worth. */
  readonly burst?: number;
}

export interface GatewayOptions {
  /**
   * The address to listen on. Default `127.0.0.1`: nothing is exposed unless you ask. (The `input
   * api` component takes `host` from the `.ww` file, or from `WOODWORK_API_HOST`, which a container
   * sets to `0.0.0.0` — and then refuses to start without credentials, see `auth`.)
   */
  readonly host?: string;
  /** Counts open client connections (`woodwork.component.connections`); `input api` passes its own. */
  readonly metrics?: Pick<MetricsEmitter, 'recordConnections'>;
  /** The port; 0 picks a free one (tests). Default 8000, clear of the component host's 8080. */
  readonly port?: number;
  /**
   * Who may call the API. Default: the keys of `WOODWORK_API_KEYS`. With no key at all the gateway
   * serves only a loopback address (127.0.0.0/8, ::1, localhost), where only this machine can reach
   * it, and refuses to start on any other address. `'none'` turns authentication off explicitly
   * (also `WOODWORK_API_AUTH=none`): every client is then the same anonymous client, and a session
   * id is the only thing that keeps sessions apart — use it only behind a gateway that authenticates.
   */
  readonly auth?: GatewayAuthOptions | 'none';
  /**
   * Cross-origin access for browsers. Default off (`false`): browsers may not call the API from other
   * origins unless you name them, so a page on another site cannot use a user's network position.
   * `WOODWORK_API_CORS_ORIGINS` (comma-separated) turns it on when the option is not given.
   */
  readonly cors?: GatewayCorsOptions | false;
  /**
   * A token bucket per client. Default 120 requests a minute with a burst of 60 (or
   * `WOODWORK_API_RATE_LIMIT_PER_MINUTE`, 0 = off): each request may cost an LLM call, so a runaway
   * script is stopped within seconds, while a person or a UI never notices. `false` turns it off.
   * Failed authentications are limited per address with the same bucket size, against key guessing.
   */
  readonly rateLimit?: GatewayRateLimitOptions | false;
  /**
   * The largest request body (and WebSocket message) in bytes. Default 1 MiB (or
   * `WOODWORK_API_MAX_BODY_BYTES`): room for a long chat history, small enough that a flood of big
   * bodies cannot fill memory.
   */
  readonly maxBodyBytes?: number;
  /**
   * How long `POST …/messages` waits for the reply before answering `202` with the stream URL. Default
   * 30 s: under the 60 s idle timeout of common proxies and load balancers.
   */
  readonly replyTimeoutMs?: number;
  /**
   * How long the gateway remembers an `Idempotency-Key` (in the session store, so every gateway
   * instance sees it): a POST sent again with the key within this time answers as the first did
   * instead of starting a second turn. Default 24 h, as Stripe's: a client retrying after an outage
   * is back well within it, and a record is only the answer's body and a few ids.
   */
  readonly idempotencyKeyTtlMs?: number;
  /**
   * How often an idle event stream gets a keep-alive (an SSE comment, a WebSocket ping). Default 15 s:
   * well under the idle timeouts of proxies (30–60 s), so streams survive quiet agents.
   */
  readonly keepAliveMs?: number;
  /**
   * The model id `GET /v1/models` lists and chat completions answer with. Default: the project's
   * folder name (the topology is the model).
   */
  readonly modelName?: string;
  /**
   * The topology served, for finding which components' streams are the reply (chat completions
   * stream only those). Default: none; without it every text stream of the turn is streamed.
   */
  readonly topology?: () => Topology | undefined;
  /** Where the `WOODWORK_API_*` fallbacks are read. Default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Default: the runtime's logger for the component; silent for `startGateway`. */
  readonly logger?: Logger;
}

/** A running gateway. Disposing it closes it. */
export interface Gateway extends AsyncDisposable {
  /** `http://host:port`, with the port actually bound (useful with port 0). */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /**
   * Stops accepting connections, ends event streams and WebSockets (close code 1001) and waits for
   * requests in flight. Idempotent.
   */
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// The wire

/**
 * Every error code a response can carry, with its HTTP status:
 *
 * | code | status | when |
 * |---|---|---|
 * | `invalid_json` | 400 | the body is not JSON |
 * | `invalid_request` | 400 | JSON, but a field is missing or of the wrong type |
 * | `unauthorized` | 401 | no key, or a key that is not configured |
 * | `not_found` | 404 | no such route, or a session that does not exist or belongs to another key |
 * | `payload_too_large` | 413 | the body is larger than `maxBodyBytes` |
 * | `unsupported_media_type` | 415 | a body that is not `application/json` |
 * | `rate_limited` | 429 | the client's bucket is empty; `Retry-After` says when to come back |
 * | `idempotency_key_in_use` | 409 | a request with the same `Idempotency-Key` is still being accepted; retry after `Retry-After` |
 * | `idempotency_key_reused` | 422 | the `Idempotency-Key` was used with another request (another body or route) |
 * | `session_ended` | 410 | the session ended while the turn was running |
 * | `internal_error` | 500 | a bug; the log has the details |
 * | `turn_failed` | 502 | chat completions: a component failed (the sessions API reports `ok: false` instead) |
 * | `unavailable` | 503 | the runtime is stopping |
 * | `timeout` | 504 | chat completions: no reply within the runtime's turn timeout |
 */
export type GatewayErrorCode =
  | 'invalid_json'
  | 'invalid_request'
  | 'unauthorized'
  | 'not_found'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'rate_limited'
  | 'idempotency_key_in_use'
  | 'idempotency_key_reused'
  | 'session_ended'
  | 'internal_error'
  | 'turn_failed'
  | 'unavailable'
  | 'timeout';

/**
 * The body of every error response. `type` is the OpenAI error family (`invalid_request_error`,
 * `authentication_error`, `rate_limit_error`, `server_error`), so OpenAI clients read our errors too.
 */
export interface GatewayErrorBody {
  readonly error: {
    readonly code: GatewayErrorCode;
    readonly type: string;
    readonly message: string;
    /** The request field at fault, when there is one. */
    readonly param?: string | null;
    /** With `rate_limited`: milliseconds until a request will be accepted again. */
    readonly retry_after_ms?: number;
  };
}

/** `POST /v1/sessions` and `POST /v1/sessions/:id/messages` when the turn finished in time. */
export interface GatewayTurnResponse {
  readonly session_id: string;
  readonly turn_id: string;
  readonly status: 'completed';
  /** False when a component failed (see `errors`): the request was fine, the topology was not. */
  readonly ok: boolean;
  /** The replies' text, joined by newlines. */
  readonly reply: string;
  /** Each reply's payload, in order. */
  readonly replies: readonly unknown[];
  /** Each `agent.error` payload, in order. */
  readonly errors: readonly unknown[];
  readonly events_url: string;
}

/** The `202 Accepted` answer: the turn goes on; read it at `events_url` (Location). */
export interface GatewayAcceptedResponse {
  readonly session_id: string;
  readonly turn_id: string;
  readonly status: 'accepted';
  /** SSE of this turn only; it ends after the turn's `turn.completed`. */
  readonly events_url: string;
  readonly ws_url: string;
}

/** `GET /v1/sessions/:id` and `POST /v1/sessions` without input. */
export interface GatewaySessionResponse {
  readonly session_id: string;
  readonly created_at: string;
  readonly expires_at: string;
  /** What the client attached when creating the session. */
  readonly metadata: Readonly<Record<string, JsonValue>>;
  readonly events_url: string;
  readonly ws_url: string;
}

/** A message a WebSocket client sends. */
export type GatewayClientFrame = {
  readonly type: 'input';
  /** A string, or any JSON value the topology's first component understands. */
  readonly input: unknown;
  /** Echoed in the `accepted` or `error` answer, to match them up. */
  readonly ref?: string;
};

/** A message the gateway sends on a WebSocket. */
export type GatewayServerFrame =
  | { readonly type: 'event'; readonly event: SessionEvent }
  | { readonly type: 'accepted'; readonly turn_id: string; readonly ref?: string }
  | { readonly type: 'error'; readonly error: GatewayErrorBody['error']; readonly ref?: string };
