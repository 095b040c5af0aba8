/**
 * The component contract: what a component implementation is, what the runtime gives it, and what
 * it may do. Every built-in component (and the host, the API gateway and the AI components built on
 * this package) is written against these types only; README.md walks through them with examples.
 *
 * The life of a component, in one host:
 *
 *   create(context)   build the object (cheap; no I/O needed)
 *   init(context)     open clients, read files; throw to refuse to start (the runtime reports it)
 *   start(context)    every component of the host is initialised: start servers, readers
 *   handle(message, context) × N   one message at a time per session, in order
 *   stop(context)     stop taking work, close what init opened
 *
 * A message reaches `handle` after the component's pipes ran on it. What `handle` returns is the
 * component's result: the runtime sends it to the components in `to` (or, with no `to`, back to the
 * session that asked as a `session.replied` event) and a copy goes to the session's events, where
 * hooks and clients see it. Returning `undefined` ends the message's branch (an output delivered it,
 * or the component chose to drop it). A component may also emit events (`context.emit`) and stream
 * its result as chunks (`context.stream`).
 */
import type { Envelope } from '@woodwork/bus';
import type { MetricsEmitter, MetricsStep } from '@woodwork/metrics';
import type { DeploymentSpec, KeySpec, KindRole, MetricsSpec, Topology } from '@woodwork/parser';
import type { StreamChunk, StreamChunkInput } from '@woodwork/stream';
import type { ErrorLocation } from './errors.js';

/** Any value that survives JSON: what payloads are, because they cross process boundaries. */
export type JsonValue = string | number | boolean | null | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/** One event of a session, exactly as it travels on the bus (the envelope, snake_case fields). */
export type SessionEvent<Payload = unknown> = Readonly<Envelope<Payload>>;

// ---------------------------------------------------------------------------------------------
// What a component is told about itself

/** The component as the `.ww` file declares it. */
export interface ComponentInfo {
  /** Its name in the `.ww` file (`agent`, `in`). Unique in a topology. */
  readonly name: string;
  readonly kind: string;
  /** Canonical type (aliases resolved: `cli` → `command_line`). */
  readonly type: string;
  /** From the catalogue: where the kind sits in the flow (`input`, `processor`, `output`, …). */
  readonly role: KindRole;
  /** `streaming = true` in the file: emit and accept chunk streams instead of whole messages. */
  readonly streaming: boolean;
  /** Where its result goes next; empty: back to the session that asked. */
  readonly to: readonly string[];
  readonly deployment: DeploymentSpec;
  readonly metrics: MetricsSpec;
  /** Where it is declared. */
  readonly location: ErrorLocation;
}

/** Structured logging, one line per call. Fields are printed as `key=value`. */
export interface Logger {
  debug(message: string, fields?: Readonly<Record<string, unknown>>): void;
  info(message: string, fields?: Readonly<Record<string, unknown>>): void;
  warn(message: string, fields?: Readonly<Record<string, unknown>>): void;
  error(message: string, fields?: Readonly<Record<string, unknown>>): void;
  /** A logger whose lines all carry these fields (the runtime gives each component one with `component`). */
  child(fields: Readonly<Record<string, unknown>>): Logger;
}

/**
 * Where terminal components write. `createRuntime` takes it from `options.io`, by default the
 * process's stdout and stderr; tests pass their own streams.
 */
export interface RuntimeIO {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
  /** Whether terminal components may use ANSI colour. Default: stdout is a TTY and NO_COLOR is unset. */
  readonly color: boolean;
  /**
   * One-line notices for whoever runs the topology: where an `input api` listens, which model
   * answers. The CLI prints them; an embedding app gets them only when it passes this.
   */
  readonly announce?: (line: string) => void;
}

// ---------------------------------------------------------------------------------------------
// Streams (the chunk types are @woodwork/stream's, so the gateway and the AI components share them)

export type { StreamChunk, StreamChunkInput } from '@woodwork/stream';

export interface StreamOptions {
  /**
   * The event type of the streamed result. Default: the component's result event (`agent.response`
   * for llms and agents); chunks themselves travel as `stream.chunk` events.
   */
  readonly event?: string;
}

/**
 * The producer side of a chunk stream, from `context.stream()`. Writes wait when the slowest
 * reader is behind (backpressure), so a fast producer never fills memory.
 */
export interface ChunkWriter {
  /** The id of the stream as the session sees it (`stream_id` of its `stream.chunk` events). */
  readonly streamId: string;
  /**
   * Sends one chunk: a string (text), a Uint8Array (bytes), or `{ data_type, data, media_type? }`
   * for JSON, audio and images.
   */
  write(chunk: StreamChunkInput): Promise<void>;
  /** Ends the stream. Called for you when `handle` returns. Idempotent. */
  end(): Promise<void>;
  /** Ends the stream with an error that every reader sees as an error, not as a silent end. */
  abort(reason?: unknown): Promise<void>;
  /** Aborted when every reader has stopped reading: stop producing. */
  readonly signal: AbortSignal;
}

// ---------------------------------------------------------------------------------------------
// Messages

/** What `handle` receives: one message of one session, after the component's pipes ran on it. */
export interface Message<Payload = unknown> {
  /** The envelope's `message_id`. */
  readonly id: string;
  readonly sessionId: string;
  /** noun.verb: `input.received`, `agent.response`, … */
  readonly event: string;
  /** The component that sent it (`runtime` for input sent with `runtime.send`). */
  readonly source: string;
  /**
   * The payload. For a streamed message of a component that does not accept streams, the chunks
   * collected: their text joined, or an array of the JSON chunks.
   */
  readonly payload: Payload;
  /** The text of the payload (`textOf(payload)`): a string payload, or its `text`, `input`, `response`, … field. */
  readonly text: string;
  /**
   * The chunks as they arrive, when the message is a stream and the component accepts streams
   * (`acceptsStreams` in its definition). Read it once; iteration ends with the stream (the last
   * chunk may or may not carry `is_final`), and throws when the producer failed.
   */
  readonly stream: AsyncIterable<StreamChunk> | undefined;
  /** 1 on the first try; the bus raises it on each retry. */
  readonly attempt: number;
  /** True when another component called this one (`reference.call`): the result goes back to it, not to `to`. */
  readonly isCall: boolean;
  /** The envelope as received (read-only). */
  readonly envelope: SessionEvent<unknown>;
}

// ---------------------------------------------------------------------------------------------
// References to other components

export interface CallOptions {
  /** The event type the callee receives. Default `component.call`. */
  readonly event?: string;
  /** Give up after this long. Default: the runtime's `callTimeoutMs` (60 s). */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/**
 * What a reference in a component's config (`model = my_llm`, `tools = [search]`, `memory = mem`)
 * becomes in `context.config`: a handle on that component, wherever it runs. Calls travel over the
 * bus (the callee's pipes run, its metrics and hooks see the work), so they work the same when the
 * callee runs in another process or container.
 */
export interface ComponentReference {
  /** The referenced component's name, so the reference still reads like the file wrote it. */
  readonly $ref: string;
  readonly name: string;
  readonly kind: string;
  readonly type: string;
  /**
   * The callee's config, with its env resolved and its own references left as `{ $ref }`. When
   * another process runs the callee (it is not in this runtime's `components`), its env is not
   * resolved here: references the topology still holds stay `{ $env }` (a host has only its own
   * unit's variables).
   */
  readonly config: Readonly<Record<string, unknown>>;
  /** Sends a payload to the component's `handle` in this session and resolves with its result. */
  call(payload: unknown, options?: CallOptions): Promise<unknown>;
  /**
   * Like `call`, but yields the result's chunks as they arrive when the callee streams (an llm with
   * `streaming = true`); a callee that does not stream yields its whole result as one chunk.
   */
  callStream(payload: unknown, options?: CallOptions): AsyncIterable<StreamChunk>;
  /** Runs one of the component's `methods` (memory `add`, knowledge base `query`, …) and resolves with its result. */
  invoke(method: string, args?: unknown, options?: CallOptions): Promise<unknown>;
}

// ---------------------------------------------------------------------------------------------
// Sessions

export interface SessionInfo {
  readonly id: string;
  /** Epoch milliseconds. */
  readonly createdAt: number;
  readonly lastActiveAt: number;
  /** When it times out unless used again. */
  readonly expiresAt: number;
  /** Whatever the creator attached (the API gateway puts the client's identity here). */
  readonly metadata: Readonly<Record<string, JsonValue>>;
}

/** `context.session` in `handle`: the session of the message, with state private to this component. */
export interface SessionContext {
  readonly id: string;
  /**
   * Reads a value this component stored for this session. State lives in the session store (memory
   * embedded, Redis distributed), so it survives the component moving between instances.
   */
  get<T = JsonValue>(key: string): Promise<T | undefined>;
  set(key: string, value: JsonValue): Promise<void>;
  delete(key: string): Promise<void>;
  /**
   * Sends `input` to this component, in this session, at `at` (epoch ms): a new input of the
   * session, delivered by whichever runtime is alive then (sessions in Redis: a BullMQ delayed job,
   * so it outlives this process), and dropped if the session has ended. `key` names it: scheduling
   * the same key again replaces it. Delivery is at least once; handle a wake-up that no longer
   * applies as nothing to do. For deadlines a component keeps without holding a handler (an
   * agent's approval that nobody answers).
   */
  wakeAt(key: string, at: number, input: JsonValue): Promise<void>;
  /** Removes the wake-up `key` of this component in this session, if any. */
  cancelWake(key: string): Promise<void>;
}

export interface SendOptions {
  /** The component the input goes to. Default: the first `input` component (else the first entry). */
  readonly to?: string;
  /** Attached to a session created by this call. */
  readonly metadata?: Readonly<Record<string, JsonValue>>;
  /**
   * Send only into an existing session whose metadata holds the string `value` under `key` (the
   * gateway: the session's owner); otherwise reject with `WW_RUNTIME_SESSION` and change nothing —
   * no session is created or touched and nothing is sent. Checked and touched in one store round
   * trip. Default: none (an unknown session is created).
   */
  readonly requireMetadata?: { readonly key: string; readonly value: string };
  /**
   * The input envelope's `message_id`. Consumers drop a message whose id they already handled, so
   * an input sent again under the same id (a client's retry, the gateway's `Idempotency-Key`) is
   * not a second turn at the bus either. Default: a random id.
   */
  readonly messageId?: string;
  /**
   * The turn's id (32 lowercase hex digits, the W3C trace id), for an input sent again as the same
   * turn together with `messageId`. Default: a new trace.
   */
  readonly turnId?: string;
}

export interface AskOptions extends SendOptions {
  /** Give up waiting after this long. Default: the runtime's `turnTimeoutMs` (120 s). */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/** What a turn produced once every branch of it ended. */
export interface TurnResult {
  readonly sessionId: string;
  /** The W3C trace id every envelope of this turn carries. */
  readonly turnId: string;
  /** False when any branch failed (see `errors`). */
  readonly ok: boolean;
  /** The `session.replied` events, in order. */
  readonly replies: readonly SessionEvent[];
  /** The `agent.error` events, in order. */
  readonly errors: readonly SessionEvent[];
  /** The replies' text, joined by newlines. */
  readonly text: string;
}

/** One input on its way through the topology. */
export interface Turn {
  readonly sessionId: string;
  readonly turnId: string;
  /** Resolves when every branch has replied or failed; rejects only on timeout or stop. */
  readonly result: Promise<TurnResult>;
}

export interface EventsOptions {
  /**
   * `history` (default) yields the events this runtime kept for the session (a bounded buffer, the
   * last `sessionHistory` events) and then live ones; `live` only what comes after the call.
   */
  readonly from?: 'history' | 'live';
  /**
   * With `from: 'history'`: start after the event with this `message_id` (a client resuming a
   * stream, as SSE `Last-Event-ID` does). When this runtime did not keep it (it started after the
   * event, or forgot the session), the session's events are read from the bus log instead: those
   * after it, then live ones, each once. When the log does not hold it either, the whole kept
   * history comes.
   */
  readonly after?: string;
  /** With `after`: told, before the first event, where the resume found that event. */
  readonly onResume?: (found: EventsResume) => void;
  /** Stop iterating when aborted. */
  readonly signal?: AbortSignal;
}

/**
 * Where `events({ after })` found the event to resume after: `history` (kept by this runtime), `log`
 * (the bus log), or `not-found` (in neither: the whole kept history comes).
 */
export type EventsResume = 'history' | 'log' | 'not-found';

/**
 * Starting and talking to sessions: what `Runtime` offers an embedding app and what an `input`
 * component gets as `context.sessions` (its input then goes into that component).
 */
/** Values kept for a time in the session store, beside the sessions (`SessionStore.putRecordIfAbsent`). */
export interface SessionRecords {
  /** Stores `value` under `key` for `ttlMs` unless the key holds one: undefined when stored, else the value held (unchanged). Atomic. */
  putIfAbsent(key: string, value: JsonValue, ttlMs: number): Promise<JsonValue | undefined>;
  /** Stores `value` under `key` for `ttlMs`, replacing what it held. */
  put(key: string, value: JsonValue, ttlMs: number): Promise<void>;
  get(key: string): Promise<JsonValue | undefined>;
}

export interface SessionClient {
  /**
   * True when `submit` honours `SendOptions.requireMetadata` (the runtime's clients do). The gateway
   * relies on it to check a session's owner as it sends; with a client that does not say so, it
   * reads the session and compares first (one store round trip more).
   */
  readonly checksRequiredMetadata?: boolean;
  /**
   * Records shared by every runtime of the topology for a time, in the session store (what the
   * gateway keeps `Idempotency-Key`s in). Undefined when the store keeps no records.
   */
  readonly records?: SessionRecords;
  /** Creates a session (with your id, or a random UUID) and resolves with its id. */
  create(options?: { readonly id?: string; readonly metadata?: Readonly<Record<string, JsonValue>> }): Promise<string>;
  /** Sends input into a session (created when `sessionId` is undefined or unknown) and returns the turn. */
  submit(sessionId: string | undefined, input: unknown, options?: SendOptions): Promise<Turn>;
  /** `submit`, then waits for the turn's result. */
  ask(sessionId: string | undefined, input: unknown, options?: AskOptions): Promise<TurnResult>;
  /** The session's events (and output) as they happen, until it ends. */
  events(sessionId: string, options?: EventsOptions): AsyncIterable<SessionEvent>;
  get(sessionId: string): Promise<SessionInfo | undefined>;
  /** Ends the session: its state is deleted, `session.ended` is emitted, its event iterators finish. */
  end(sessionId: string, reason?: string): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// The context a component gets

/** A function loaded from the project (a `.ts`, `.js` or `.py` file), called with JSON arguments. */
export interface LoadedFunction {
  readonly name: string;
  readonly module: string;
  readonly language: 'js' | 'ts' | 'python';
  /** Parameter names, when they can be read (Python always; JS from the function's source). */
  readonly parameters: readonly string[];
  /** The docstring (Python) or leading JSDoc comment, for tool descriptions. */
  readonly description: string | undefined;
  call(...args: unknown[]): Promise<unknown>;
}

/** All exported functions of one project module: what `api functions { path }` needs. */
export interface FunctionModule {
  readonly module: string;
  readonly functions: readonly LoadedFunction[];
  get(name: string): LoadedFunction | undefined;
}

export interface ComponentContext<Config = Readonly<Record<string, unknown>>> {
  readonly component: ComponentInfo;
  /**
   * The component's own keys from the file, with catalogue defaults filled in, environment
   * references resolved and references to other components turned into `ComponentReference`s.
   */
  readonly config: Config;
  /** Lines carry `component=<name>`. */
  readonly logger: Logger;
  /** This component's metrics (processing time, tokens, cost, custom metrics); see @woodwork/metrics. */
  readonly metrics: MetricsEmitter;
  readonly io: RuntimeIO;
  /** The folder of the `.ww` file: relative paths in config are relative to it. */
  readonly projectDir: string;
  /**
   * The environment the runtime resolves `$NAME` from (its `env` option, default `process.env`).
   * Components that fall back to a provider's usual variable (`OPENAI_API_KEY`, …) read it here,
   * so an embedding application's `env` reaches them too.
   */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** A path from the config, made absolute; throws `WW_RUNTIME_MODULE_PATH` when it leaves the project. */
  resolvePath(relativePath: string): string;
  /** Loads a module of functions from the project (`.ts`/`.js` in-process, `.py` through the Python bridge). */
  loadFunctions(relativePath: string): Promise<FunctionModule>;
  /**
   * Only for `input` components: start sessions and send input into this component, read their
   * events. Undefined for every other role.
   */
  readonly sessions: SessionClient | undefined;
  /**
   * The topology this component runs in (the current one after a hot reload), for components that
   * reason about the flow: the API gateway finds which components' streams make up the reply.
   */
  readonly topology: Topology;
  /** Aborted when the component is stopping. */
  readonly signal: AbortSignal;
}

export interface HandlerContext<Config = Readonly<Record<string, unknown>>> extends ComponentContext<Config> {
  readonly session: SessionContext;
  /** The message being handled (also `handle`'s first argument). */
  readonly message: Message;
  /**
   * Emits an event of this session (noun.verb: `agent.thought`, `tool.call`, …): clients reading the
   * session and this component's hooks see it; it does not go to `to`. Resolves once on the bus.
   */
  emit(eventType: string, payload: unknown): Promise<void>;
  /**
   * Streams this message's result as chunks: the next components start reading before it is done,
   * and clients see `stream.chunk` events as they are written. Call it at most once per message.
   */
  stream(options?: StreamOptions): ChunkWriter;
  /** The metrics step measuring this message: record tokens and custom metrics on it. */
  readonly step: MetricsStep;
  /**
   * Aborted when the component is stopping, or when this handling runs past the component's
   * `timeout` (its reason is then the `WW_RUNTIME_TIMEOUT` error). Pass it to every call that can
   * take long (`fetch`, the AI SDK's `abortSignal`): the host stops waiting at the timeout either
   * way, but work that ignores the signal goes on in the background.
   */
  readonly signal: AbortSignal;
  /**
   * A circuit breaker for one downstream of this component (a model provider, a tool's API, an MCP
   * server), with the component's `circuit_breaker` settings: `downstream('openai').call((signal)
   * => …)`. One breaker per name per component instance; see `Downstream`.
   */
  downstream(name: string): Downstream;
}

/**
 * A named downstream's circuit breaker, from `context.downstream(name)`. A call fails without
 * running while the circuit is open (`WW_RUNTIME_CIRCUIT_OPEN`; the host answers with the
 * component's `fallback` when it has one), so a provider that is down costs each message nothing
 * instead of a timeout. Timeouts and errors marked `isRetryable` count as failures; other errors
 * are the caller's, not the downstream's, and count as answers.
 */
export interface Downstream {
  readonly name: string;
  /** `closed` (calls go through), `open` (calls fail at once) or `half_open` (one trial call goes through). */
  readonly state: 'closed' | 'half_open' | 'open';
  /** Runs `work` with the handling's signal and records its outcome; rejects with what `work` threw. */
  call<T>(work: (signal: AbortSignal) => T | Promise<T>, options?: DownstreamCallOptions): Promise<T>;
}

export interface DownstreamCallOptions {
  /**
   * Whether an error `work` threw is the downstream's failure (counts towards opening its circuit).
   * Default: errors marked `isRetryable`. Give your own when the errors that show an unhealthy
   * downstream (a 5xx, a 429 after the client's own retries) are not ones the host should retry.
   */
  readonly isFailure?: (error: unknown) => boolean;
}

// ---------------------------------------------------------------------------------------------
// The component itself

export type MethodHandler<Config = Readonly<Record<string, unknown>>> = (
  args: unknown,
  context: HandlerContext<Config>,
) => unknown;

export interface Component<Config = Readonly<Record<string, unknown>>> {
  /** Open clients, read files. Throwing refuses the start; the error is reported with the component's location. */
  init?(context: ComponentContext<Config>): void | Promise<void>;
  /** Every component of this host is initialised: start listening, reading, polling. */
  start?(context: ComponentContext<Config>): void | Promise<void>;
  /**
   * One message. Resolve with the result payload (sent on to `to`, or back to the session), or with
   * `undefined` to end the branch here. Throw to fail the message: an `agent.error` event reaches
   * the session. Errors with `isRetryable: true` are first tried again by the host with backoff (the
   * component's `retry`); its `fallback` may answer instead (README, "Failures contained per component").
   * Without `handle`, a component passes its messages on unchanged.
   */
  handle?(message: Message, context: HandlerContext<Config>): unknown;
  /** Named operations other components run through a reference: `reference.invoke('add', args)`. */
  readonly methods?: Readonly<Record<string, MethodHandler<Config>>>;
  /** Stop taking work and close what `init` opened. In-flight messages finish first. */
  stop?(context: ComponentContext<Config>): void | Promise<void>;
}

/** Builds a component for one declaration. Called once per component per host. */
export type ComponentFactory<Config = Readonly<Record<string, unknown>>> = (
  context: ComponentContext<Config>,
) => Component<Config> | Promise<Component<Config>>;

/**
 * A component implementation for one kind/type pair: what `defineComponent` returns and
 * `registry.register` takes.
 */
export interface ComponentDefinition<Config = Readonly<Record<string, unknown>>> {
  readonly kind: string;
  readonly type: string;
  /**
   * The event type of the result. Default by role: `input.received` (input), `agent.response`
   * (llm, agent), `tool.observation` (tools), `<kind>.response` otherwise. Outputs end the chain.
   */
  readonly resultEvent?: string;
  /**
   * Whether `handle` reads streamed messages chunk by chunk (`message.stream`). Default false: the
   * runtime collects the chunks and hands over one message.
   */
  readonly acceptsStreams?: boolean;
  /**
   * For a kind/type the catalogue of @woodwork/parser does not have: declare it here (its keys, as
   * `KeySpec`s, and its role) to register it anyway. Catalogue types need none of this.
   */
  readonly declare?: ComponentDeclaration;
  readonly create: ComponentFactory<Config>;
}

/** What a new (non-catalogue) component type says about itself. */
export interface ComponentDeclaration {
  readonly description: string;
  /** Where it sits in the flow. Default `processor`. */
  readonly role?: KindRole;
  readonly keys?: Readonly<Record<string, KeySpec>>;
}
