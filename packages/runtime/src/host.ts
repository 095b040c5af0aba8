/**
 * The component host: runs one component of a topology on the bus. It
 *
 * - loads the component's pipes and hooks and builds the implementation (create, init);
 * - consumes the component's inbox (`<ns>.component.<name>`, group `<name>`): for each message it
 *   runs the pipes, calls `handle` inside a metrics step, and routes the result — to every `to`
 *   target, or back to the session (`session.replied`) — with a copy on the events topic;
 * - answers calls from other components (`reference.call/invoke`) on the caller's replies topic;
 * - runs the hooks on the events this component emits, through their own group (`<name>.hooks`);
 * - keeps the turn's branch count, so the last branch to end emits `turn.completed`;
 * - contains the component's failures (resilience.ts): each handling runs under the component's
 *   `timeout`, retryable failures are tried again with backoff (`retry`), a circuit breaker per
 *   downstream fails fast while it is open and `fallback` answers instead, and `max_concurrency`
 *   bounds the handlings in progress.
 *
 * The embedded runtime runs one host per component in one process; the distributed host process
 * (apps/host) runs the same class for one component or one `vm server` group.
 */
import { createHash, randomUUID } from 'node:crypto';
import { deadLetterTopic, type Bus, type DeadLetter, type DeliveryContext, type Envelope, type EnvelopeInit, type EnvelopeTrace, type Subscription } from '@woodwork/bus';
import type { MetricsEmitter, MetricsStep } from '@woodwork/metrics';
import { formatDuration, type Topology, type TopologyComponent } from '@woodwork/parser';
import { INVOKE_EVENT, REPLY_EVENT, messageScope, replyTopicOf, type CallReplyPayload } from './calls.js';
import { errorMessage, isRetryableError, serializeRuntimeError, WoodworkRuntimeError } from './errors.js';
import {
  EventTypes,
  textOf,
  type AgentErrorPayload,
  type CircuitPayload,
  type ComponentFallbackPayload,
  type ComponentRetryPayload,
  type ComponentSaturatedPayload,
  type ComponentTimeoutPayload,
  type StreamChunksPayload,
  type StreamRestartedPayload,
} from './events.js';
import { HookRunner, HookStreamView, type LoadedHook } from './hooks.js';
import type { ModuleLoader } from './modules/module-loader.js';
import { runPipes, type LoadedPipe, type PipeContext } from './pipes.js';
import type { RegisteredComponent } from './registry.js';
import {
  backoffDelay,
  CircuitBreaker,
  ConcurrencyLimiter,
  DeadlineQueue,
  resilienceSettings,
  type CircuitTransition,
  type ResilienceSettings,
} from './resilience.js';
import type { SessionManager } from './sessions/manager.js';
import { StreamAggregate, toChunk, type StreamSink, type StreamTransport } from './streams.js';
import { componentGroup, componentTopic, eventsTopic, hooksGroup } from './topics.js';
import { outgoingTrace, traceIdOf } from './trace.js';
import { publishAgain, WoodworkStreamError, type StreamChunkPayload } from '@woodwork/stream';
import type {
  ChunkWriter,
  Component,
  ComponentContext,
  ComponentInfo,
  Downstream,
  DownstreamCallOptions,
  HandlerContext,
  Logger,
  Message,
  RuntimeIO,
  SessionClient,
  StreamChunk,
  StreamChunkInput,
  StreamOptions,
} from './types.js';

/** What every host of a runtime shares. */
export interface HostServices {
  readonly namespace: string;
  readonly bus: Bus;
  readonly sessions: SessionManager;
  readonly loader: ModuleLoader;
  /** The live chunk transport, or undefined when the bus crosses processes (see streams.ts). */
  readonly streams: StreamTransport | undefined;
  readonly logger: Logger;
  readonly io: RuntimeIO;
  readonly settings: HostSettings;
  /** The environment `$NAME` references are resolved from (ComponentContext.env). */
  readonly env: Readonly<Record<string, string | undefined>>;
  topology(): Topology;
  /** The component's config as its implementation sees it (env resolved, references as handles). */
  resolveConfig(component: TopologyComponent): Record<string, unknown>;
  /** The component's metrics emitter (with the enterprise ingestion client when `enterprise_enabled`). */
  metricsFor(component: TopologyComponent): Promise<MetricsEmitter>;
  /** For input components: sessions whose input goes into this component. */
  sessionClientFor(component: string): SessionClient;
}

export interface HostSettings {
  readonly maxInFlight: number;
  readonly maxAttempts: number;
  readonly hookTimeoutMs: number;
  readonly pipeTimeoutMs: number;
  /** How often the inbox's queue depth is read from the bus and recorded; 0: never. */
  readonly queueDepthIntervalMs: number;
  /** How long a publish the bus failed with a retryable error is tried again (see `published`). */
  readonly publishRetryMs: number;
}

/** The stream a message opened was read by another instance of its component (decision 13). */
function isReadElsewhere(error: unknown): boolean {
  for (let cause = error, depth = 0; cause !== undefined && cause !== null && depth < 5; cause = (cause as { cause?: unknown }).cause, depth++) {
    if (WoodworkStreamError.isInstance(cause) && cause.code === 'WW_STREAM_READ_ELSEWHERE') return true;
  }
  return false;
}

/** Per-component counters, as `runtime.stats()` reports them. */
export interface ComponentStats {
  /** Messages handled to the end (result routed or branch ended). */
  handled: number;
  /** Messages that failed (an `agent.error` was emitted). */
  failed: number;
  pipeFailures: number;
  hookRuns: number;
  hookFailures: number;
  hookTimeouts: number;
  /** Calls from other components answered. */
  calls: number;
  /** The inbox's queue depth as last read from the bus (`queueDepthIntervalMs`); null before the first read or without one. */
  queueDepth: number | null;
  /** Handlings aborted at the component's `timeout`. */
  timeouts: number;
  /** Tries the host made again after a retryable failure (`retry`). */
  retries: number;
  /** Messages answered with the component's `fallback`. */
  fallbacks: number;
  /** Stream heads dropped as duplicates: their stream was read by another instance (decision 13). */
  duplicateHeads: number;
  /** Messages waiting for a slot under `max_concurrency` right now. */
  waiting: number;
}

/** The default result event of a role (see `ComponentDefinition.resultEvent`). */
export function defaultResultEvent(kind: string, role: string): string {
  if (role === 'input') return EventTypes.inputReceived;
  if (kind === 'llm' || kind === 'agent') return EventTypes.agentResponse;
  if (role === 'tool') return EventTypes.toolObservation;
  return `${kind}.response`;
}

/** The payload of a `stream.chunk` event: @woodwork/stream's wire format (bytes in base64). */
function chunkPayload(chunk: StreamChunk | null): StreamChunkPayload {
  if (chunk === null) return { data_type: null, data: null };
  const metadata = Object.keys(chunk.metadata).length > 0 ? { metadata: { ...chunk.metadata } } : {};
  if (chunk.data_type === 'text' || chunk.data_type === 'json') return { data_type: chunk.data_type, data: chunk.data, ...metadata };
  return {
    data_type: chunk.data_type,
    data: Buffer.from(chunk.data.buffer, chunk.data.byteOffset, chunk.data.byteLength).toString('base64'),
    encoding: 'base64',
    media_type: chunk.media_type,
    ...metadata,
  };
}

/** What one message's handling remembers: its stream, whether its result already went on. */
interface MessageState {
  writer: ResultWriter | undefined;
  /** The result already went to the targets (a stream head): the targets now own the branch. */
  forwarded: boolean;
}

/** One try of `handle`: its abort (timeout), and the downstreams it is calling right now. */
interface Handling {
  readonly controller: AbortController;
  readonly signal: AbortSignal;
  /** Set when the host's timeout fired: the host counted the failure already. */
  timedOut: boolean;
  /** Downstreams with a call in flight: a timeout is their failure, not the component's. */
  readonly downstreams: Set<string>;
}

type Attempt = { readonly ok: true; readonly result: unknown; readonly trace: EnvelopeTrace | null } | { readonly ok: false; readonly error: unknown };

export class ComponentHost {
  readonly name: string;
  readonly info: ComponentInfo;
  readonly stats: ComponentStats = {
    handled: 0,
    failed: 0,
    pipeFailures: 0,
    hookRuns: 0,
    hookFailures: 0,
    hookTimeouts: 0,
    calls: 0,
    queueDepth: null,
    timeouts: 0,
    retries: 0,
    fallbacks: 0,
    duplicateHeads: 0,
    waiting: 0,
  };
  private readonly resultEvent: string;
  private readonly acceptsStreams: boolean;
  private readonly logger: Logger;
  private readonly abort = new AbortController();
  private instance: Component | undefined;
  private context: ComponentContext | undefined;
  /**
   * The context without `signal`: the prototype of every handler's context, which adds its own
   * handling's signal. (Shadowing a frozen prototype's property needs `defineProperty`, which
   * measured ~30× slower than the plain assignment a message's context gets here.)
   */
  private handlerBase: object | undefined;
  private metrics: MetricsEmitter | undefined;
  private depthTimer: ReturnType<typeof setInterval> | undefined;
  private pipes: LoadedPipe[] = [];
  private hooks: HookRunner | undefined;
  private inbox: Subscription | undefined;
  private hookSubscription: Subscription | undefined;
  /** Events this host published that its hooks want, and how many of those the hooks have run on. */
  private hookEventsPublished = 0;
  private hookEventsDone = 0;
  private readonly hookStreams = new HookStreamView();
  private started = false;
  /** The config holds references to other components (see `inScope`). */
  private usesReferences = false;
  private resilience!: ResilienceSettings;
  /** One per downstream: the component's own (its name) and those of `context.downstream()`. */
  private readonly breakers = new Map<string, CircuitBreaker>();
  private limiter: ConcurrencyLimiter | undefined;
  private deadlines: DeadlineQueue | undefined;
  /** The aborts of the handlings in progress, so stopping the component reaches each one's signal. */
  private readonly handlings = new Set<AbortController>();
  /**
   * Failures a downstream's breaker counted already (by the downstream's name), so the component's
   * own does not count them again and the fallback may answer for them.
   */
  private readonly countedFailures = new WeakMap<object, string>();
  /** `WW_RUNTIME_CIRCUIT_OPEN` errors of downstreams, by the downstream they name. */
  private readonly openCircuits = new WeakMap<object, string>();

  constructor(
    readonly component: TopologyComponent,
    readonly registered: RegisteredComponent,
    private readonly services: HostServices,
  ) {
    this.name = component.name;
    this.info = Object.freeze({
      name: component.name,
      kind: component.kind,
      type: component.type,
      role: registered.role,
      streaming: component.streaming,
      to: component.to,
      deployment: component.deployment,
      metrics: component.metrics,
      location: component.location,
    });
    this.resultEvent = registered.definition.resultEvent ?? defaultResultEvent(component.kind, registered.role);
    this.acceptsStreams = registered.definition.acceptsStreams === true;
    this.logger = services.logger.child({ component: component.name });
  }

  get role(): string {
    return this.registered.role;
  }

  /**
   * Loads pipes and hooks (every problem at once), then builds and initialises the component.
   * Throws a WoodworkRuntimeError whose `problems` lists each module that could not load.
   */
  async prepare(): Promise<void> {
    const requester = (role: 'pipe' | 'hook', location: TopologyComponent['location']) => ({ component: this.name, role, location });
    const load = async (spec: TopologyComponent['pipes'][number], role: 'pipe' | 'hook') => ({
      spec,
      fn: await this.services.loader.loadFunction(spec, requester(role, spec.location)),
    });
    const results = await Promise.allSettled([
      ...this.component.pipes.map((spec) => load(spec, 'pipe')),
      ...this.component.hooks.map((spec) => load(spec, 'hook')),
    ]);
    const problems = results
      .filter((result): result is PromiseRejectedResult => result.status === 'rejected')
      .map((result) => result.reason as unknown);
    if (problems.length > 0) throw aggregate(problems, this.name);
    const loaded = results.map((result) => (result as PromiseFulfilledResult<LoadedPipe>).value);
    this.pipes = loaded.slice(0, this.component.pipes.length);
    const hooks: LoadedHook[] = loaded.slice(this.component.pipes.length);
    if (hooks.length > 0) this.hooks = new HookRunner(hooks, this.name, this.services.settings.hookTimeoutMs, this.logger);

    const config = this.services.resolveConfig(this.component);
    this.resilience = resilienceSettings(config, this.component);
    if (this.resilience.maxConcurrency !== undefined) this.limiter = new ConcurrencyLimiter(this.resilience.maxConcurrency);
    if (this.resilience.timeoutMs > 0) this.deadlines = new DeadlineQueue(this.resilience.timeoutMs);
    this.usesReferences = hasReferences(this.component.config);
    this.metrics = await this.services.metricsFor(this.component);
    const loader = this.services.loader;
    const topologyOf = () => this.services.topology();
    const where = { component: this.name, location: this.component.location };
    this.context = Object.freeze({
      component: this.info,
      config,
      logger: this.logger,
      metrics: this.metrics,
      io: this.services.io,
      projectDir: loader.projectDir,
      env: this.services.env,
      resolvePath: (relative: string) => loader.resolvePath(relative, { ...where, role: 'file' }),
      loadFunctions: (relative: string) => loader.loadModule(relative, { ...where, role: 'function module' }),
      sessions: this.registered.role === 'input' ? this.services.sessionClientFor(this.name) : undefined,
      get topology() {
        return topologyOf();
      },
      signal: this.abort.signal,
    });
    const { signal: _signal, ...shared } = Object.getOwnPropertyDescriptors(this.context);
    this.handlerBase = Object.freeze(Object.defineProperties({}, shared));
    try {
      this.instance = await this.registered.definition.create(this.context);
      await this.instance?.init?.(this.context);
    } catch (error) {
      throw new WoodworkRuntimeError(
        WoodworkRuntimeError.isInstance(error) ? error.code : 'WW_RUNTIME_COMPONENT_INIT',
        `component \`${this.name}\` (${this.component.kind} ${this.component.type}) could not start: ${errorMessage(error)}`,
        {
          cause: error,
          location: (WoodworkRuntimeError.isInstance(error) && error.location) || this.component.location,
          component: this.name,
          hint: (WoodworkRuntimeError.isInstance(error) && error.hint) || 'check its keys in the .ww file',
        },
      );
    }
  }

  /** Subscribes to the hooks' events first (none is missed), then to the inbox. */
  async subscribe(): Promise<void> {
    const { bus, namespace, settings } = this.services;
    if (this.hooks) {
      this.hookSubscription = await bus.subscribe(
        eventsTopic(namespace),
        { group: hooksGroup(this.name), fromBeginning: false, maxInFlight: 64, maxAttempts: 1 },
        (envelope) => this.onEvent(envelope),
      );
    }
    this.inbox = await bus.subscribe(
      componentTopic(namespace, this.name),
      {
        group: componentGroup(this.name),
        // Under `max_concurrency`, a few messages wait here so a freed slot is filled at once; the
        // rest stay with the broker, where another instance can take them and the queue depth
        // (what autoscaling reads) counts them.
        maxInFlight: this.limiter ? Math.min(settings.maxInFlight, 2 * this.limiter.limit) : settings.maxInFlight,
        maxAttempts: settings.maxAttempts,
        backoff: { initialDelayMs: 50, maxDelayMs: 2_000 },
        // The bus gave up on a message: its session hears it now, not at its turn's timeout.
        onDeadLetter: (letter) => this.onDeadLettered(letter),
        // After a crash, a redelivered message runs alone until it settles (so only a message that
        // kills its host is charged the crashes), except a stream head: its handler only reads a
        // stream another component produces, whose re-production may itself be held back behind
        // a suspect in that component's inbox in this very process, waiting for this reader.
        isolate: (envelope) => !isStreamHead(envelope),
      },
      (envelope, delivery) => this.onMessage(envelope, delivery),
    );
    this.watchQueueDepth();
  }

  /**
   * Records the inbox's queue depth (`woodwork.component.queue.depth`) from the broker's count,
   * now and every `queueDepthIntervalMs`: what autoscalers scale a component on. The same number
   * in every instance of the component, since it is the group's.
   */
  private watchQueueDepth(): void {
    const interval = this.services.settings.queueDepthIntervalMs;
    if (interval <= 0) return;
    const { bus, namespace } = this.services;
    const topic = componentTopic(namespace, this.name);
    const group = componentGroup(this.name);
    let reading = false;
    const read = async () => {
      if (reading || this.inbox === undefined) return;
      reading = true;
      try {
        const depth = await bus.queueDepth(topic, group);
        if (depth === undefined) {
          clearInterval(this.depthTimer);
        } else {
          this.stats.queueDepth = depth;
          this.metrics?.recordQueueDepth(depth);
        }
      } catch (error) {
        this.logger.debug('could not read the queue depth', { error: errorMessage(error) });
      } finally {
        reading = false;
      }
    };
    void read();
    this.depthTimer = setInterval(() => void read(), interval);
    this.depthTimer.unref();
  }

  /** Calls the component's `start` (every host of the runtime is subscribed by then). */
  async start(): Promise<void> {
    this.started = true;
    await this.instance?.start?.(this.context!);
  }

  // -------------------------------------------------------------------------------------------
  // Publishing

  private publishEvent(init: EnvelopeInit): Promise<unknown> {
    if (this.hooks?.wants(init.event_type) && init.component_source === this.name) this.hookEventsPublished++;
    const topic = eventsTopic(this.services.namespace);
    return this.publish(topic, init, `the events topic \`${topic}\``);
  }

  private publishTo(target: string, init: EnvelopeInit): Promise<unknown> {
    return this.publish(componentTopic(this.services.namespace, target), init, `component \`${target}\``);
  }

  /** Publishes one envelope, again after a broker outage (`published`), under the same message_id. */
  private publish(topic: string, init: EnvelopeInit, destination?: string): Promise<unknown> {
    const once = init.message_id === undefined ? { ...init, message_id: randomUUID() } : init;
    return this.published(topic, init.session_id, () => this.services.bus.publish(topic, once), destination);
  }

  /**
   * Runs `publish` until it succeeds, again after each retryable bus failure (a broker restarting:
   * kafkajs refusing connections, a Kafka publish outlasting `publishTimeoutMs`, Redis reconnecting)
   * with backoff (0.2 s doubling to 5 s, ±20 %), for up to `publishRetryMs`. Publishing again is
   * safe: the envelopes keep their message_id and consumers drop copies by it. Without this, one
   * broker restart ended every turn in flight with an error reply although the broker came back
   * well within the turn's time. Past the bound, or while the host stops, the last failure is
   * thrown as `WW_RUNTIME_PUBLISH_FAILED`, naming where it went and what to check.
   */
  private async published<T>(topic: string, sessionId: string, publish: () => Promise<T>, destination = `topic \`${topic}\``): Promise<T> {
    let first: unknown;
    try {
      return await publish();
    } catch (error) {
      first = error;
    }
    let result: T | undefined;
    const outcome = await publishAgain(
      async () => {
        result = await publish();
      },
      first,
      {
        retryMs: this.services.settings.publishRetryMs,
        signal: this.abort.signal,
        onRetrying: (error, forMs) =>
          this.logger.warn(`publishing to ${destination} failed, trying again for up to ${formatDuration(forMs)}`, { session: sessionId, error: errorMessage(error) }),
      },
    );
    if (outcome.published) return result as T;
    if (outcome.reason === 'not-retryable') throw outcome.error;
    const { error, tries, elapsedMs } = outcome;
    throw new WoodworkRuntimeError(
      'WW_RUNTIME_PUBLISH_FAILED',
      `component \`${this.name}\` could not send to ${destination} (session ${sessionId}) for ${formatDuration(elapsedMs)} (${tries} tr${tries === 1 ? 'y' : 'ies'}): ${errorMessage(error)}`,
      {
        cause: error,
        component: this.name,
        sessionId,
        location: this.component.location,
        hint:
          outcome.reason === 'stopped'
            ? "the host was stopping while the bus's broker did not take the message; check that the broker is up"
            : `check that the bus's broker is up and reachable from this host; a longer outage can be bridged with the runtime's \`publishRetryMs\` (now ${formatDuration(this.services.settings.publishRetryMs)})`,
        isRetryable: true,
      },
    );
  }

  /** One branch of the turn ended; the last one announces `turn.completed`. */
  private async endBranch(sessionId: string, trace: EnvelopeTrace | null): Promise<void> {
    const turnId = traceIdOf(trace);
    if (turnId === undefined) return;
    const open = await this.services.sessions.adjustTurn(sessionId, turnId, -1);
    if (open === 0) {
      await this.publish(eventsTopic(this.services.namespace), {
        session_id: sessionId,
        event_type: EventTypes.turnCompleted,
        component_source: 'runtime',
        payload: { turn_id: turnId },
        trace,
      });
    }
  }

  // -------------------------------------------------------------------------------------------
  // Messages

  private async onMessage(envelope: Envelope, delivery: DeliveryContext): Promise<void> {
    const replyTopic = replyTopicOf(envelope);
    if (replyTopic !== undefined && envelope.event_type === INVOKE_EVENT) return this.onInvoke(envelope, replyTopic, delivery);
    const sessionId = envelope.session_id;
    const isCall = replyTopic !== undefined;
    const state: MessageState = { writer: undefined, forwarded: false };

    // A stream head: the chunks come through the transport.
    let payload: unknown = envelope.payload;
    let stream: AsyncIterable<StreamChunk> | undefined;
    let streamAggregate: StreamAggregate | undefined;
    if (isStreamHead(envelope) && this.services.streams) {
      try {
        const source = await this.services.streams.read({
          sessionId,
          streamId: envelope.stream_id,
          source: envelope.component_source,
          target: this.name,
          // Handed out before: the host reading it died, and the stream may be over by now.
          fromStart: delivery.attempt > 1,
        });
        streamAggregate = new StreamAggregate();
        if (this.acceptsStreams && this.pipes.length === 0) {
          stream = tap(source, streamAggregate);
          payload = null;
        } else {
          for await (const chunk of source) streamAggregate.add(chunk);
          payload = streamAggregate.result();
          streamAggregate = undefined;
        }
      } catch (error) {
        if (isReadElsewhere(error)) return this.dropDuplicateHead(envelope, error);
        return this.fail(envelope, { stage: 'stream', error }, state, replyTopic);
      }
    }

    if (this.pipes.length > 0) {
      const pipeContext: PipeContext = {
        sessionId,
        component: this.name,
        event: envelope.event_type,
        messageId: envelope.message_id,
        source: envelope.component_source,
      };
      const outcome = await runPipes(this.pipes, payload, pipeContext, this.services.settings.pipeTimeoutMs);
      if (!outcome.ok) {
        this.stats.pipeFailures++;
        return this.fail(envelope, { stage: 'pipe', error: outcome.error, pipe: outcome.pipe }, state, replyTopic);
      }
      payload = outcome.payload;
    }

    const handled = await this.handleContained(envelope, delivery, payload, stream, streamAggregate, isCall, state, replyTopic);
    if (!handled.ok) return;
    const { result, trace } = handled;

    try {
      if (state.writer) {
        await state.writer.end();
        await state.writer.finish();
      } else {
        const delivered = this.role === 'output' && streamAggregate ? streamAggregate.result() : payload;
        await this.route(envelope, delivered, result, trace, replyTopic);
      }
      this.stats.handled++;
    } catch (error) {
      return this.fail(envelope, { stage: 'route', error }, state, replyTopic);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Failures contained (resilience.ts)

  /**
   * Runs `handle` under the component's resilience settings until it succeeds, or the failure is
   * reported (`agent.error`) or answered with the fallback. Resolves `ok: false` once the message
   * is dealt with that way.
   */
  private async handleContained(
    envelope: Envelope,
    delivery: DeliveryContext,
    payload: unknown,
    stream: AsyncIterable<StreamChunk> | undefined,
    streamAggregate: StreamAggregate | undefined,
    isCall: boolean,
    state: MessageState,
    replyTopic: string | undefined,
  ): Promise<Attempt | { readonly ok: false }> {
    const settings = this.resilience;
    if (delivery.attempt > 1) this.metrics!.recordRetry();
    const breaker = settings.circuitBreaker ? this.breaker(this.name) : undefined;
    for (let attempt = 1; ; attempt++) {
      const admission = breaker?.admit();
      if (admission && !admission.ok) {
        const error = breaker!.openError(this.component, envelope.session_id, admission.retryInMs);
        return this.contain(envelope, error, { reason: 'circuit_open', downstream: this.name }, state, replyTopic);
      }
      if (admission?.transition) await this.announceCircuit(envelope, breaker!, admission.transition);

      const outcome = await this.attempt(envelope, payload, stream, streamAggregate, isCall, state, replyTopic, attempt, breaker);
      if (outcome.ok) return outcome;
      const { error } = outcome;
      await state.writer?.abort(error);
      if (stream !== undefined && isReadElsewhere(error)) {
        this.dropDuplicateHead(envelope, error);
        return { ok: false };
      }

      const downstream = this.openCircuits.get(error as object);
      if (downstream !== undefined) return this.contain(envelope, error, { reason: 'circuit_open', downstream }, state, replyTopic);
      // Chunks already sent cannot be unsent, and a stream read once cannot be read again.
      const repeatable = !state.writer && !state.forwarded && stream === undefined;
      const failedDownstream = this.countedFailures.get(error as object);
      if (!isRetryableError(error) && failedDownstream !== undefined) {
        // Not for the host to retry (the component's client did), but the downstream failed: the
        // fallback may answer.
        return this.contain(envelope, error, { reason: 'downstream_failed', downstream: failedDownstream }, state, replyTopic);
      }
      if (!isRetryableError(error) || !repeatable) {
        await this.fail(envelope, { stage: 'handle', error }, state, replyTopic);
        return { ok: false };
      }
      if (breaker?.state === 'open') return this.contain(envelope, error, { reason: 'circuit_open', downstream: this.name }, state, replyTopic);
      if (attempt >= settings.retry.attempts) {
        const reason = WoodworkRuntimeError.isInstance(error) && error.code === 'WW_RUNTIME_TIMEOUT' && error.component === this.name ? 'timeout' : 'retries_exhausted';
        return this.contain(envelope, error, { reason }, state, replyTopic);
      }

      const delayMs = backoffDelay(attempt, settings.retry);
      this.stats.retries++;
      this.metrics!.recordRetry();
      this.logger.info(`handling failed, retrying in ${formatDuration(delayMs)} (try ${attempt + 1} of ${settings.retry.attempts})`, {
        session: envelope.session_id,
        error: errorMessage(error),
      });
      const retry: ComponentRetryPayload = {
        component: this.name,
        attempt,
        next_attempt: attempt + 1,
        attempts: settings.retry.attempts,
        delay_ms: delayMs,
        error: serializeRuntimeError(error),
        message_id: envelope.message_id,
      };
      await this.publishEvent({ session_id: envelope.session_id, event_type: EventTypes.componentRetry, component_source: this.name, payload: retry, trace: envelope.trace });
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }

  /** One try of `handle`: in a concurrency slot, in a metrics step, under the timeout. */
  private async attempt(
    envelope: Envelope,
    payload: unknown,
    stream: AsyncIterable<StreamChunk> | undefined,
    streamAggregate: StreamAggregate | undefined,
    isCall: boolean,
    state: MessageState,
    replyTopic: string | undefined,
    attempt: number,
    breaker: CircuitBreaker | undefined,
  ): Promise<Attempt> {
    const sessionId = envelope.session_id;
    if (this.limiter) await this.acquireSlot(envelope, this.limiter);
    // One signal per handling (AbortSignal.any would cost tens of µs a message); stop() aborts each.
    const controller = new AbortController();
    if (this.abort.signal.aborted) controller.abort(this.abort.signal.reason);
    this.handlings.add(controller);
    const handling: Handling = { controller, signal: controller.signal, timedOut: false, downstreams: new Set() };
    let step: MetricsStep | undefined;
    try {
      step = this.metrics!.startStep({ sessionId, trace: envelope.trace, eventType: envelope.event_type, messageId: envelope.message_id });
      const trace = outgoingTrace(step.trace(), envelope.trace);
      const message = createMessage(envelope, payload, stream, isCall, envelope.attempt + attempt - 1);
      const context = this.handlerContext(envelope, message, step, trace, state, replyTopic, handling);
      const instance = this.instance;
      let work = Promise.resolve(this.inScope({ sessionId, trace }, () => (instance?.handle ? instance.handle(message, context) : payload)));
      const deadlines = this.deadlines;
      if (deadlines) {
        // The host stops waiting at the limit whether or not the handler honours its signal: a
        // handler that ignores it must not hold the session (or a concurrency slot) forever.
        work = deadlines.race(work, () => {
          const error = this.timeoutError(sessionId, deadlines.limitMs);
          handling.timedOut = true;
          controller.abort(error);
          return error;
        });
      }
      const result = await work;
      if (stream !== undefined && streamAggregate !== undefined) {
        // Drain what the component did not read, so the producer is never left waiting.
        for await (const chunk of stream) void chunk;
      }
      step.end();
      const transition = breaker?.success();
      if (transition) await this.announceCircuit(envelope, breaker!, transition);
      return { ok: true, result, trace };
    } catch (error) {
      step?.end({ error });
      if (handling.timedOut) await this.onTimeout(envelope, error, attempt, handling);
      if (breaker && !this.openCircuits.has(error as object)) {
        const failure = isRetryableError(error) && !this.countedFailures.has(error as object);
        // An error that is not the downstream's fault (a bug, a bad input) still shows it answers.
        const transition = failure ? breaker.failure() : isRetryableError(error) ? undefined : breaker.success();
        if (transition) await this.announceCircuit(envelope, breaker, transition, error);
      }
      return { ok: false, error };
    } finally {
      this.handlings.delete(controller);
      this.releaseSlot();
    }
  }

  private timeoutError(sessionId: string, limitMs: number): WoodworkRuntimeError {
    return new WoodworkRuntimeError(
      'WW_RUNTIME_TIMEOUT',
      `component \`${this.name}\` did not finish handling a message of session ${sessionId} within its timeout of ${formatDuration(limitMs)}`,
      {
        component: this.name,
        sessionId,
        location: this.component.location,
        hint: `raise \`timeout\` of \`${this.name}\` in the .ww file (\`timeout = "${formatDuration(limitMs * 2).replace(/ (ms|s|min|h)$/, (_, unit: string) => (unit === 'min' ? 'm' : unit))}"\`, or \`"off"\`), or make the work shorter`,
        isRetryable: true,
      },
    );
  }

  /** Counts and announces a timeout; a downstream with a call in flight gets the failure. */
  private async onTimeout(envelope: Envelope, error: unknown, attempt: number, handling: Handling): Promise<void> {
    this.stats.timeouts++;
    this.metrics!.recordTimeout();
    const payload: ComponentTimeoutPayload = {
      component: this.name,
      limit_ms: this.resilience.timeoutMs,
      key: 'timeout',
      attempt,
      message_id: envelope.message_id,
    };
    await this.publishEvent({ session_id: envelope.session_id, event_type: EventTypes.componentTimeout, component_source: this.name, payload, trace: envelope.trace });
    if (handling.downstreams.size === 0 || !this.resilience.circuitBreaker) return;
    if (typeof error === 'object' && error !== null) this.countedFailures.set(error, [...handling.downstreams][0]!);
    for (const name of handling.downstreams) {
      const breaker = this.breaker(name);
      const transition = breaker.failure();
      if (transition) await this.announceCircuit(envelope, breaker, transition, error);
    }
  }

  /** The failure is final: the fallback answers when there is one (and nothing was sent yet), else `agent.error`. */
  private async contain(
    envelope: Envelope,
    error: unknown,
    why: { readonly reason: ComponentFallbackPayload['reason']; readonly downstream?: string },
    state: MessageState,
    replyTopic: string | undefined,
  ): Promise<{ readonly ok: false }> {
    const fallback = this.resilience.fallback;
    if (fallback === undefined || state.writer || state.forwarded) {
      await this.fail(envelope, { stage: 'handle', error }, state, replyTopic);
      return { ok: false };
    }
    this.stats.fallbacks++;
    this.metrics!.recordFallback();
    this.logger.info(`answered with the fallback (${why.reason}): ${errorMessage(error)}`, { session: envelope.session_id });
    const payload: ComponentFallbackPayload = {
      component: this.name,
      reason: why.reason,
      ...(why.downstream === undefined ? {} : { downstream: why.downstream }),
      error: serializeRuntimeError(error),
      message_id: envelope.message_id,
    };
    try {
      await this.publishEvent({ session_id: envelope.session_id, event_type: EventTypes.componentFallback, component_source: this.name, payload, trace: envelope.trace });
      const result = typeof fallback === 'string' ? fallback : { ...fallback };
      await this.route(envelope, result, result, envelope.trace, replyTopic);
      this.stats.handled++;
    } catch (routeError) {
      await this.fail(envelope, { stage: 'route', error: routeError }, state, replyTopic);
    }
    return { ok: false };
  }

  /** The breaker of a downstream (created closed on first use). */
  private breaker(name: string): CircuitBreaker {
    let breaker = this.breakers.get(name);
    if (!breaker) {
      breaker = new CircuitBreaker(name, this.resilience.circuitBreaker!);
      this.breakers.set(name, breaker);
      this.metrics!.recordCircuitState(name, 'closed');
    }
    return breaker;
  }

  /** Records and announces a breaker's change of state, in the session whose call caused it. */
  private async announceCircuit(envelope: Envelope, breaker: CircuitBreaker, transition: CircuitTransition, error?: unknown): Promise<void> {
    this.metrics!.recordCircuitState(breaker.name, breaker.state);
    const event = transition === 'opened' ? EventTypes.circuitOpened : transition === 'half_open' ? EventTypes.circuitHalfOpen : EventTypes.circuitClosed;
    const payload: CircuitPayload = {
      component: this.name,
      downstream: breaker.name,
      state: breaker.state,
      ...(transition === 'opened'
        ? { failures: breaker.lastFailures, cooldown_ms: breaker.settings.cooldownMs, ...(error === undefined ? {} : { error: serializeRuntimeError(error) }) }
        : {}),
    };
    if (transition === 'opened') this.logger.warn(`circuit of \`${breaker.name}\` opened after ${breaker.lastFailures} failures in a row`, { session: envelope.session_id });
    await this.publishEvent({ session_id: envelope.session_id, event_type: event, component_source: this.name, payload, trace: envelope.trace });
  }

  /** `context.downstream(name)` for one handling. */
  private downstream(name: string, envelope: Envelope, handling: Handling): Downstream {
    if (typeof name !== 'string' || name.trim() === '') {
      throw new WoodworkRuntimeError('WW_RUNTIME_INVALID_ARGUMENT', `downstream() needs a name like "openai"; got ${JSON.stringify(name)}`, { component: this.name, userError: false });
    }
    const host = this;
    const breaker = this.resilience.circuitBreaker ? this.breaker(name) : undefined;
    return Object.freeze({
      name,
      get state() {
        return breaker?.state ?? 'closed';
      },
      async call<T>(work: (signal: AbortSignal) => T | Promise<T>, options: DownstreamCallOptions = {}): Promise<T> {
        if (!breaker) return work(handling.signal);
        const admission = breaker.admit();
        if (!admission.ok) {
          const error = breaker.openError(host.component, envelope.session_id, admission.retryInMs);
          host.openCircuits.set(error, name);
          throw error;
        }
        if (admission.transition) await host.announceCircuit(envelope, breaker, admission.transition);
        handling.downstreams.add(name);
        let result: T;
        try {
          result = await work(handling.signal);
        } catch (error) {
          handling.downstreams.delete(name);
          // After the host's timeout the host has counted this call's failure already.
          if (handling.timedOut) throw error;
          const failure = options.isFailure ? options.isFailure(error) : isRetryableError(error);
          if (failure && typeof error === 'object' && error !== null) host.countedFailures.set(error, name);
          const transition = failure ? breaker.failure() : breaker.success();
          if (transition) await host.announceCircuit(envelope, breaker, transition, error);
          throw error;
        }
        handling.downstreams.delete(name);
        // A late answer after the host's timeout does not undo the failure the host counted.
        const transition = handling.timedOut ? undefined : breaker.success();
        if (transition) await host.announceCircuit(envelope, breaker, transition);
        return result;
      },
    });
  }

  /** Waits for a slot under `max_concurrency`, telling the session when it has to. */
  private async acquireSlot(envelope: Envelope, limiter: ConcurrencyLimiter): Promise<void> {
    if (limiter.saturated) {
      const payload: ComponentSaturatedPayload = {
        component: this.name,
        limit: limiter.limit,
        in_flight: limiter.inFlight,
        waiting: limiter.waiting + 1,
        message_id: envelope.message_id,
      };
      await this.publishEvent({ session_id: envelope.session_id, event_type: EventTypes.componentSaturated, component_source: this.name, payload, trace: envelope.trace }).catch(
        (error: unknown) => this.logger.debug('could not publish component.saturated', { error: errorMessage(error) }),
      );
    }
    const wait = limiter.acquire();
    if (!wait) return;
    this.stats.waiting++;
    this.metrics!.recordWaiting(1);
    try {
      await wait;
    } finally {
      this.stats.waiting--;
      this.metrics!.recordWaiting(-1);
    }
  }

  private releaseSlot(): void {
    this.limiter?.release();
  }

  /**
   * Sends a result on. `received` is the payload after pipes (what an output delivered);
   * `result` is what `handle` returned.
   */
  async route(envelope: Envelope, received: unknown, result: unknown, trace: EnvelopeTrace | null, replyTopic: string | undefined): Promise<void> {
    const sessionId = envelope.session_id;
    if (replyTopic !== undefined) {
      this.stats.calls++;
      const published: Promise<unknown>[] = [];
      if (result !== undefined) published.push(this.publishEvent(this.resultEnvelope(sessionId, result, trace, null)));
      const reply: CallReplyPayload = { request_id: envelope.message_id, ok: true, result: result ?? null };
      published.push(this.replyTo(replyTopic, envelope, reply, trace));
      await Promise.all(published);
      return;
    }
    if (this.role === 'output') {
      await this.publishEvent({
        ...this.replyEnvelope(sessionId, result === undefined ? received : result, trace),
        message_id: derivedMessageId(envelope.message_id, this.name, 'reply'),
      });
      await this.endBranch(sessionId, trace);
      return;
    }
    if (result === undefined) {
      await this.endBranch(sessionId, trace);
      return;
    }
    const targets = this.component.to;
    // What one input produces gets ids derived from the input's id: when a crash makes the broker
    // redeliver an input this host already routed, the copies carry the same ids as the first
    // time, and the next component's deduplication drops them instead of running them twice.
    const idFor = (what: string) => derivedMessageId(envelope.message_id, this.name, what);
    if (targets.length === 0) {
      const events = eventsTopic(this.services.namespace);
      const published = [
        this.countedForHooks({ ...this.resultEnvelope(sessionId, result, trace, null), message_id: idFor('result') }),
        this.countedForHooks({ ...this.replyEnvelope(sessionId, result, trace), message_id: idFor('reply') }),
      ];
      await this.published(events, sessionId, () => this.services.bus.publishMany(events, published), `the events topic \`${events}\``);
      await this.endBranch(sessionId, trace);
      return;
    }
    await this.fork(sessionId, trace, targets.length);
    const copy = this.publishEvent({ ...this.resultEnvelope(sessionId, result, trace, null), message_id: idFor('result') });
    await Promise.all([
      copy,
      ...targets.map((target) =>
        this.publishTo(target, {
          ...this.resultEnvelope(sessionId, result, trace, null),
          message_id: idFor(`to:${target}`),
          component_target: target,
          routing: { next_component: target },
        }),
      ),
    ]);
  }

  /** One branch becomes `count` branches. */
  private async fork(sessionId: string, trace: EnvelopeTrace | null, count: number): Promise<void> {
    const turnId = traceIdOf(trace);
    if (count > 1 && turnId !== undefined) await this.services.sessions.adjustTurn(sessionId, turnId, count - 1);
  }

  private countedForHooks(init: EnvelopeInit): EnvelopeInit {
    if (this.hooks?.wants(init.event_type)) this.hookEventsPublished++;
    return init;
  }

  private resultEnvelope(sessionId: string, result: unknown, trace: EnvelopeTrace | null, streamId: string | null, event = this.resultEvent): EnvelopeInit {
    return {
      session_id: sessionId,
      event_type: event,
      component_source: this.name,
      payload: result,
      trace,
      stream_id: streamId,
    };
  }

  private replyEnvelope(sessionId: string, payload: unknown, trace: EnvelopeTrace | null): EnvelopeInit {
    return { session_id: sessionId, event_type: EventTypes.sessionReplied, component_source: this.name, payload: payload ?? null, trace };
  }

  private replyTo(topic: string, request: Envelope, reply: CallReplyPayload, trace: EnvelopeTrace | null): Promise<unknown> {
    return this.publish(topic, {
      session_id: request.session_id,
      event_type: REPLY_EVENT,
      component_source: this.name,
      component_target: request.component_source,
      payload: reply,
      trace,
    });
  }

  /**
   * A stream head whose stream another instance of this component already read (decision 13: the
   * message producing it was run again, and this head reached another instance than the first):
   * that instance answered; this one says nothing and ends no branch.
   */
  private dropDuplicateHead(envelope: Envelope, error: unknown): void {
    this.stats.duplicateHeads++;
    this.logger.info(`dropped a duplicate stream head: ${errorMessage(error)}`, { session: envelope.session_id });
  }

  /** A message failed: tell the session (or the caller), end its branch, never throw. */
  private async fail(
    envelope: Envelope,
    failure: { stage: AgentErrorPayload['stage']; error: unknown; pipe?: LoadedPipe },
    state: MessageState,
    replyTopic: string | undefined,
  ): Promise<void> {
    this.stats.failed++;
    const { stage, error, pipe } = failure;
    const runtimeError = WoodworkRuntimeError.isInstance(error)
      ? error
      : new WoodworkRuntimeError('WW_RUNTIME_HANDLER_FAILED', `component \`${this.name}\` failed: ${errorMessage(error)}`, {
          cause: error,
          component: this.name,
          location: this.component.location,
          sessionId: envelope.session_id,
        });
    // The session gets the agent.error; the log line is for operators watching a host.
    this.logger.info(`${stage} failed: ${runtimeError.message}`, { session: envelope.session_id });
    try {
      if (replyTopic !== undefined) {
        await this.replyTo(replyTopic, envelope, { request_id: envelope.message_id, ok: false, error: serializeRuntimeError(runtimeError) }, envelope.trace);
        return;
      }
      const payload: AgentErrorPayload = {
        error: serializeRuntimeError(runtimeError),
        component: this.name,
        stage,
        ...(pipe
          ? { pipe: { module: pipe.spec.module, export: pipe.spec.export, event: pipe.spec.event, location: pipe.spec.location } }
          : {}),
        location: pipe?.spec.location ?? runtimeError.location ?? this.component.location,
        message_id: envelope.message_id,
      };
      await this.publishEvent({
        session_id: envelope.session_id,
        event_type: EventTypes.agentError,
        component_source: this.name,
        payload,
        trace: envelope.trace,
      });
      // When the result already went on (a stream), the targets end those branches.
      if (!state.forwarded) await this.endBranch(envelope.session_id, envelope.trace);
    } catch (publishError) {
      // The bus itself failed: let it retry the whole message rather than lose the failure.
      this.logger.error('could not report a failed message', { session: envelope.session_id, error: errorMessage(publishError) });
      throw publishError;
    }
  }

  /**
   * The bus dead-lettered a message of this component's inbox: it crashed the component's hosts
   * `maxAttempts` times (a poison message), or the host could not even report its failure. The
   * session gets an `agent.error` (stage `dead_letter`, `WW_RUNTIME_DEAD_LETTERED`) and the
   * message's branch of the turn ends, so the turn completes with `ok: false` now instead of at
   * its timeout; a caller waiting on a call gets the error as its reply. Called by the bus before
   * it settles the message (at least once).
   */
  private async onDeadLettered(letter: DeadLetter): Promise<void> {
    const envelope = letter.envelope;
    if (envelope === null) {
      // Not an envelope: no session to tell. The letter (with the raw body) is in the topic.
      this.logger.warn(`a record that is not a valid envelope was dead-lettered: ${letter.lastError.message}`, {
        dead_letter: letter.id,
      });
      return;
    }
    const letterTopic = deadLetterTopic(letter.topic, letter.group);
    const error = new WoodworkRuntimeError(
      'WW_RUNTIME_DEAD_LETTERED',
      `component \`${this.name}\` gave up on message ${envelope.message_id} (${envelope.event_type}) of session ${envelope.session_id} after ${letter.attempts} attempt${letter.attempts === 1 ? '' : 's'}: ${letter.lastError.message}`,
      {
        component: this.name,
        sessionId: envelope.session_id,
        location: this.component.location,
        hint: `the message is kept as dead letter ${letter.id} in ${letterTopic}: look at it (and its last error) in the console's dead letters (\`woodwork run --console\` or \`woodwork up --console\`) and re-drive it from there once the cause is fixed`,
      },
    );
    await this.fail(envelope, { stage: 'dead_letter', error }, { writer: undefined, forwarded: false }, replyTopicOf(envelope));
  }

  private async onInvoke(envelope: Envelope, replyTopic: string, delivery: DeliveryContext): Promise<void> {
    const { method, args } = (envelope.payload ?? {}) as { method?: unknown; args?: unknown };
    const handler = typeof method === 'string' && this.instance?.methods ? this.instance.methods[method] : undefined;
    const state: MessageState = { writer: undefined, forwarded: false };
    if (typeof handler !== 'function') {
      const available = Object.keys(this.instance?.methods ?? {});
      return this.fail(
        envelope,
        {
          stage: 'call',
          error: new WoodworkRuntimeError('WW_RUNTIME_CALL_FAILED', `component \`${this.name}\` has no method \`${String(method)}\``, {
            component: this.name,
            hint: available.length > 0 ? `its methods are ${available.join(', ')}` : `\`${this.name}\` has no methods`,
          }),
        },
        state,
        replyTopic,
      );
    }
    const step = this.metrics!.startStep({ sessionId: envelope.session_id, trace: envelope.trace, eventType: `${INVOKE_EVENT}.${method}`, messageId: envelope.message_id });
    const trace = outgoingTrace(step.trace(), envelope.trace);
    const message = createMessage(envelope, args ?? null, undefined, true);
    const handling: Handling = { controller: new AbortController(), signal: this.abort.signal, timedOut: false, downstreams: new Set() };
    const context = this.handlerContext(envelope, message, step, trace, state, replyTopic, handling);
    try {
      const result = await this.inScope({ sessionId: envelope.session_id, trace }, () => handler(args ?? null, context));
      step.end();
      this.stats.calls++;
      await this.replyTo(replyTopic, envelope, { request_id: envelope.message_id, ok: true, result: result ?? null }, trace);
    } catch (error) {
      step.end({ error });
      if (isRetryableError(error) && delivery.attempt < this.services.settings.maxAttempts) throw error;
      return this.fail(envelope, { stage: 'call', error }, state, replyTopic);
    }
  }

  private handlerContext(
    envelope: Envelope,
    message: Message,
    step: MetricsStep,
    trace: EnvelopeTrace | null,
    state: MessageState,
    replyTopic: string | undefined,
    handling: Handling,
  ): HandlerContext {
    const host = this;
    // The component's context with this message's members on top (no copy of the base per message).
    return Object.assign(Object.create(this.handlerBase!) as HandlerContext, {
      session: this.services.sessions.context(envelope.session_id, this.name),
      message,
      step,
      signal: handling.signal,
      downstream: (name: string) => host.downstream(name, envelope, handling),
      emit: async (eventType: string, payload: unknown) => {
        if (handling.timedOut) throw handling.signal.reason;
        if (typeof eventType !== 'string' || !/^[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*)+$/.test(eventType)) {
          throw new WoodworkRuntimeError('WW_RUNTIME_INVALID_ARGUMENT', `emit() needs a noun.verb event type like "agent.thought"; got ${JSON.stringify(eventType)}`, {
            component: host.name,
            userError: false,
          });
        }
        await host.publishEvent({ session_id: envelope.session_id, event_type: eventType, component_source: host.name, payload, trace });
      },
      stream: (options?: StreamOptions) => {
        // A handler that ignored its timeout must not start a stream for a message already failed
        // or answered: the stream's targets would become branches of a finished turn.
        if (handling.timedOut) throw handling.signal.reason;
        if (state.writer) {
          throw new WoodworkRuntimeError('WW_RUNTIME_STREAM', `component \`${host.name}\` called stream() twice for one message`, {
            component: host.name,
            userError: false,
          });
        }
        state.writer = new ResultWriter(host, envelope, options?.event ?? host.resultEvent, trace, state, replyTopic);
        return state.writer;
      },
    });
  }

  /**
   * Runs component code with the message's scope in AsyncLocalStorage, which is how a reference
   * (`config.model.call(...)`) knows the session and turn it is called in. Only components whose
   * config holds references need it; the others skip the cost (promise hooks on Node 20).
   */
  private inScope<T>(scope: { sessionId: string; trace: EnvelopeTrace | null }, work: () => T): T {
    if (!this.usesReferences) return work();
    return messageScope.run({ ...scope, component: this.name }, work);
  }

  /** @internal the pieces ResultWriter needs. */
  get internals() {
    return {
      services: this.services,
      publishEvent: (init: EnvelopeInit) => this.publishEvent(init),
      publishTo: (target: string, init: EnvelopeInit) => this.publishTo(target, init),
      replyTo: (topic: string, request: Envelope, reply: CallReplyPayload, trace: EnvelopeTrace | null) => this.replyTo(topic, request, reply, trace),
      resultEnvelope: (sessionId: string, result: unknown, trace: EnvelopeTrace | null, streamId: string | null, event: string) =>
        this.resultEnvelope(sessionId, result, trace, streamId, event),
      fork: (sessionId: string, trace: EnvelopeTrace | null, count: number) => this.fork(sessionId, trace, count),
      hooksWant: (eventType: string) => this.hooks?.wants(eventType) ?? false,
    };
  }

  // -------------------------------------------------------------------------------------------
  // Hooks

  private async onEvent(envelope: Envelope): Promise<void> {
    if (envelope.component_source !== this.name || !this.hooks?.wants(envelope.event_type)) return;
    const { due, dropped } = this.hookStreams.accept(envelope);
    if (dropped) this.hookEventsDone++;
    await this.runHooks(due);
  }

  /** Each of `events` counts as done once its hooks settled. */
  private async runHooks(events: readonly Envelope[]): Promise<void> {
    const hooks = this.hooks!;
    await Promise.all(
      events.map(async (event) => {
        try {
          await hooks.run(event);
        } finally {
          this.hookEventsDone++;
          this.stats.hookRuns = hooks.counters.runs;
          this.stats.hookFailures = hooks.counters.failures;
          this.stats.hookTimeouts = hooks.counters.timeouts;
        }
      }),
    );
  }

  /**
   * Waits (up to `timeoutMs`) until the hooks have run on every event this host published for them:
   * every one has arrived, and the stream chunks still held (see `HookStreamView`), whose streams
   * will say nothing more, are handed over as they are.
   */
  async drainHooks(timeoutMs: number): Promise<boolean> {
    if (!this.hooks) return true;
    const deadline = Date.now() + timeoutMs;
    const caughtUp = async (held: () => number) => {
      while (this.hookEventsDone + held() < this.hookEventsPublished) {
        if (Date.now() >= deadline) return false;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      return true;
    };
    if (!(await caughtUp(() => this.hookStreams.holding))) return false;
    void this.runHooks(this.hookStreams.releaseAll());
    return caughtUp(() => 0);
  }

  // -------------------------------------------------------------------------------------------
  // Stopping

  /** Stops taking messages and finishes those in hand. */
  async closeInbox(): Promise<void> {
    clearInterval(this.depthTimer);
    await this.inbox?.close();
    this.inbox = undefined;
  }

  /**
   * Stops the component (after its inbox is closed) and then its hooks, once they caught up.
   * Closing the inbox waits for the handlers running; after `graceMs` they are aborted, so a
   * handler that waits on its signal (or never ends) cannot hold the stop for ever.
   */
  async stop(hookDrainMs: number, graceMs = 0): Promise<void> {
    const closing = this.closeInbox();
    let timer: NodeJS.Timeout | undefined;
    const closedInTime = await Promise.race([
      closing.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), graceMs);
      }),
    ]);
    clearTimeout(timer);
    const stopping = new WoodworkRuntimeError('WW_RUNTIME_STATE', `component ${this.name} is stopping`);
    this.abort.abort(stopping);
    for (const handling of this.handlings) handling.abort(stopping);
    if (!closedInTime) {
      this.logger.warn(`handlers still running after ${graceMs} ms were aborted`, { running: this.handlings.size });
      await closing;
    }
    this.deadlines?.close();
    try {
      if (this.started || this.instance) await this.instance?.stop?.(this.context!);
    } catch (error) {
      this.logger.warn('stop() failed', { error: errorMessage(error) });
    }
    if (!(await this.drainHooks(hookDrainMs))) {
      this.logger.warn('stopped before every hook had run', { pending: this.hookEventsPublished - this.hookEventsDone });
    }
    await this.hookSubscription?.close();
    this.hookSubscription = undefined;
    await this.metrics?.flush().catch(() => undefined);
  }

  /** Calls the component's `stop` without ever having started it (a failed start). */
  async dispose(): Promise<void> {
    this.abort.abort();
    this.deadlines?.close();
    try {
      await this.instance?.stop?.(this.context!);
    } catch {
      // best effort
    }
  }
}

/**
 * The producer side of `context.stream()`: every chunk goes to the session (`stream.chunk` events)
 * and, live through the stream transport, to each target (or to the caller); when the message is
 * done the collected result is routed like any result (to the targets if they could not read live).
 */
class ResultWriter implements ChunkWriter {
  /**
   * Derived from the message that produces the stream, not random: when this host dies mid-stream
   * and the message is handed to another instance, its stream is the same stream, produced again
   * (a reader restarts on the new producer instead of waiting out the dead one), and its stream
   * heads carry the same ids, so a target that already has one drops the copy.
   */
  readonly streamId: string;
  private readonly sinks: StreamSink[] = [];
  private readonly aggregate = new StreamAggregate();
  private readonly cancel = new AbortController();
  private index = 0;
  private ended = false;
  private opened: Promise<void> | undefined;
  /** The caller reads the chunks live (a streamed call). */
  private liveCall = false;
  /** Chunk events waiting for the publish in flight (see `publishChunk`). */
  private readonly queuedEvents: QueuedChunkEvent[] = [];
  private publishingEvents = false;
  /** Hooks of this component run per `stream.chunk` envelope, so their events are never coalesced. */
  private coalesceEvents: boolean | undefined;

  constructor(
    private readonly host: ComponentHost,
    private readonly envelope: Envelope,
    private readonly event: string,
    private readonly trace: EnvelopeTrace | null,
    private readonly state: MessageState,
    private readonly replyTopic: string | undefined,
  ) {
    this.streamId = derivedMessageId(envelope.message_id, host.name, 'stream');
  }

  get signal(): AbortSignal {
    return this.cancel.signal;
  }

  /** Opens the live paths on first use: stream heads to the targets, or the early reply to a caller. */
  private open(): Promise<void> {
    this.opened ??= (async () => {
      const { services, publishTo, replyTo, resultEnvelope, fork } = this.host.internals;
      const transport = services.streams;
      if (!transport) return;
      const sessionId = this.envelope.session_id;
      const address = { sessionId, source: this.host.name, trace: this.trace };
      if (this.replyTopic !== undefined) {
        this.sinks.push(await transport.open({ ...address, streamId: this.streamId, target: this.envelope.component_source }));
        this.liveCall = true;
        await replyTo(this.replyTopic, this.envelope, { request_id: this.envelope.message_id, ok: true, stream_id: this.streamId }, this.trace);
      } else {
        const targets = this.host.role === 'output' ? [] : this.host.component.to;
        if (targets.length === 0) return;
        await fork(sessionId, this.trace, targets.length);
        this.state.forwarded = true;
        // One stream per target (a stream has one reader); the session sees them as one.
        const ids = targets.map((_, index) => (targets.length === 1 ? this.streamId : `${this.streamId}-${index}`));
        for (const [index, target] of targets.entries()) this.sinks.push(await transport.open({ ...address, streamId: ids[index]!, target }));
        await Promise.all(
          targets.map((target, index) =>
            publishTo(target, {
              ...resultEnvelope(sessionId, null, this.trace, ids[index]!, this.event),
              message_id: derivedMessageId(this.envelope.message_id, this.host.name, `stream-head:${target}`),
              component_target: target,
              is_stream: true,
              routing: { next_component: target },
            }),
          ),
        );
      }
      const watch = () => {
        if (this.sinks.every((sink) => sink.signal.aborted)) {
          this.cancel.abort(new WoodworkRuntimeError('WW_RUNTIME_STREAM', 'every reader stopped reading'));
        }
      };
      for (const sink of this.sinks) sink.signal.addEventListener('abort', watch, { once: true });
    })();
    return this.opened;
  }

  /**
   * A chunk's `stream.chunk` event. A bus hands a session's events to a reader one at a time, each
   * after the previous one's acknowledgement (a broker round trip over Redis, NATS or Kafka), so one
   * envelope per token caps a client at one token per round trip. As in @woodwork/stream, a chunk
   * that finds no publish in flight goes out at once, alone (a token's latency is unchanged), and
   * those that arrive while one is on its way go out together in the next, as one `stream.chunks`
   * envelope; the session hub hands them to readers as the `stream.chunk` events they are.
   */
  private publishChunk(chunk: StreamChunk | null, index: number, isFinal: boolean): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queuedEvents.push({ payload: chunkPayload(chunk), index, isFinal, resolve, reject });
      if (!this.publishingEvents) void this.publishQueuedEvents();
    });
  }

  private async publishQueuedEvents(): Promise<void> {
    this.publishingEvents = true;
    const { publishEvent, hooksWant } = this.host.internals;
    this.coalesceEvents ??= !hooksWant(EventTypes.streamChunk) && !hooksWant(EventTypes.streamChunks);
    while (this.queuedEvents.length > 0) {
      const batch = this.coalesceEvents ? takeChunkEvents(this.queuedEvents) : this.queuedEvents.splice(0, 1);
      const first = batch[0]!;
      const last = batch.at(-1)!;
      try {
        await publishEvent({
          session_id: this.envelope.session_id,
          event_type: batch.length === 1 ? EventTypes.streamChunk : EventTypes.streamChunks,
          component_source: this.host.name,
          payload: batch.length === 1 ? first.payload : ({ chunks: batch.map((event) => event.payload) } satisfies StreamChunksPayload),
          trace: this.trace,
          stream_id: this.streamId,
          is_stream: true,
          chunk_index: first.index,
          is_final: last.isFinal,
        });
        for (const event of batch) event.resolve();
      } catch (error) {
        for (const event of batch) event.reject(error);
      }
    }
    this.publishingEvents = false;
  }

  /** A reader that stopped reading is not the producer's failure: its sink just drops the rest. */
  private each(work: (sink: StreamSink) => Promise<void>): Promise<unknown>[] {
    return this.sinks.map((sink) =>
      work(sink).catch((error: unknown) => {
        if (!sink.signal.aborted) throw error;
      }),
    );
  }

  async write(input: StreamChunkInput): Promise<void> {
    if (this.ended) throw new WoodworkRuntimeError('WW_RUNTIME_STREAM', `stream ${this.streamId} of \`${this.host.name}\` has ended`, { userError: false });
    const index = this.index++;
    const chunk = toChunk(input, this.streamId, index, false);
    this.aggregate.add(chunk);
    // The session's event needs none of what open() sets up (the fork, the stream heads, the
    // targets' credit): sending it first takes those broker round trips off a client's time to first
    // token. Sinks are written in call order once open, as `.then` callbacks run in the order they
    // were registered.
    if (index === 0 && this.envelope.attempt > 1) await this.announceRestart();
    const published = this.publishChunk(chunk, index, false);
    await Promise.all([published, this.open().then(() => Promise.all(this.each((sink) => sink.write(input))))]);
  }

  /**
   * This message was handed out before without being settled (its host died, maybe mid-stream):
   * the session learns, before the first chunk, that this stream starts over, so clients drop the
   * partial text they showed of it. (A first try that never streamed makes this a no-op for them.)
   */
  private async announceRestart(): Promise<void> {
    const payload: StreamRestartedPayload = {
      stream_id: this.streamId,
      component: this.host.name,
      attempt: this.envelope.attempt,
      message_id: this.envelope.message_id,
      reason: `the message producing this stream was handed to \`${this.host.name}\` again (attempt ${this.envelope.attempt}) after the host handling it died; the stream starts over from its first chunk`,
    };
    await this.host.internals.publishEvent({
      session_id: this.envelope.session_id,
      event_type: EventTypes.streamRestarted,
      component_source: this.host.name,
      payload,
      trace: this.trace,
      stream_id: this.streamId,
      is_stream: true,
    });
  }

  async end(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    await this.open();
    await Promise.all([this.publishChunk(null, this.index++, true), ...this.each((sink) => sink.end())]);
  }

  async abort(reason?: unknown): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    await this.open().catch(() => undefined);
    const error = new WoodworkRuntimeError('WW_RUNTIME_STREAM', `the stream of \`${this.host.name}\` was aborted: ${errorMessage(reason ?? 'no reason given')}`, {
      cause: reason,
      component: this.host.name,
    });
    await Promise.all(this.sinks.map((sink) => sink.abort(error).catch(() => undefined)));
  }

  /** After `handle`: the whole result goes where the live chunks could not. */
  async finish(): Promise<void> {
    const result = this.aggregate.result();
    const { publishEvent, replyTo, resultEnvelope } = this.host.internals;
    const sessionId = this.envelope.session_id;
    if (this.replyTopic !== undefined) {
      await publishEvent(resultEnvelope(sessionId, result, this.trace, this.streamId, this.event));
      if (!this.liveCall) await replyTo(this.replyTopic, this.envelope, { request_id: this.envelope.message_id, ok: true, result }, this.trace);
      return;
    }
    if (this.state.forwarded) {
      await publishEvent(resultEnvelope(sessionId, result, this.trace, this.streamId, this.event));
      return;
    }
    await this.host.route(this.envelope, result, result, this.trace, undefined);
  }
}

interface QueuedChunkEvent {
  readonly payload: StreamChunkPayload;
  readonly index: number;
  readonly isFinal: boolean;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/** At most this many chunks, and about this much data, in one `stream.chunks` envelope (brokers cap a message near 1 MB). */
const MAX_COALESCED_CHUNKS = 256;
const MAX_COALESCED_DATA = 256 * 1024;

/** The queued chunk events that go out in the next envelope: the first always, then as many as fit. */
function takeChunkEvents(queue: QueuedChunkEvent[]): QueuedChunkEvent[] {
  let count = 0;
  let size = 0;
  while (count < queue.length && count < MAX_COALESCED_CHUNKS) {
    const data = queue[count]!.payload.data;
    size += typeof data === 'string' ? data.length : JSON.stringify(data ?? null).length;
    if (count > 0 && size > MAX_COALESCED_DATA) break;
    count++;
  }
  return queue.splice(0, count);
}

/**
 * An event of the events topic as the events it stands for: a `stream.chunks` envelope as its
 * `stream.chunk` events (the first keeps the envelope's id, the others get ids derived from it, so
 * every copy of the envelope gives the same ids and a reader resumes after any of them), anything
 * else as it is.
 */
export function expandEvent(envelope: Envelope): Envelope[] {
  if (envelope.event_type !== EventTypes.streamChunks) return [envelope];
  const chunks = (envelope.payload as Partial<StreamChunksPayload> | null)?.chunks;
  if (!Array.isArray(chunks) || chunks.length === 0 || envelope.chunk_index === null) return [envelope];
  const firstIndex = envelope.chunk_index;
  return chunks.map((payload, offset) => ({
    ...envelope,
    message_id: offset === 0 ? envelope.message_id : derivedMessageId(envelope.message_id, envelope.component_source, `chunk:${firstIndex + offset}`),
    event_type: EventTypes.streamChunk,
    payload,
    chunk_index: firstIndex + offset,
    is_final: envelope.is_final && offset === chunks.length - 1,
  }));
}

function createMessage(envelope: Envelope, payload: unknown, stream: AsyncIterable<StreamChunk> | undefined, isCall: boolean, attempt = envelope.attempt): Message {
  let text: string | undefined;
  return {
    id: envelope.message_id,
    sessionId: envelope.session_id,
    event: envelope.event_type,
    source: envelope.component_source,
    payload,
    get text() {
      text ??= textOf(payload);
      return text;
    },
    stream,
    attempt,
    isCall,
    envelope,
  };
}

/** Passes chunks through while adding them up. */
function tap(source: AsyncIterable<StreamChunk>, aggregate: StreamAggregate): AsyncIterable<StreamChunk> {
  let iterator: AsyncIterator<StreamChunk> | undefined;
  return {
    [Symbol.asyncIterator]() {
      iterator ??= source[Symbol.asyncIterator]();
      const inner = iterator;
      return {
        async next() {
          const result = await inner.next();
          if (!result.done) aggregate.add(result.value);
          return result;
        },
        async return() {
          await inner.return?.();
          return { done: true, value: undefined };
        },
      };
    },
  };
}

/** Several load problems as one error (or the one problem itself). */
export function aggregate(problems: readonly unknown[], component?: string): WoodworkRuntimeError {
  const errors = problems.flatMap((problem) => {
    if (WoodworkRuntimeError.isInstance(problem)) return problem.problems.length > 0 ? problem.problems : [problem];
    return [
      new WoodworkRuntimeError('WW_RUNTIME_COMPONENT_INIT', errorMessage(problem), {
        cause: problem,
        ...(component === undefined ? {} : { component }),
        userError: false,
      }),
    ];
  });
  if (errors.length === 1) return errors[0]!;
  return new WoodworkRuntimeError('WW_RUNTIME_INVALID_TOPOLOGY', `${errors.length} problems stop the topology from running`, {
    problems: errors,
    ...(component === undefined ? {} : { component }),
  });
}

/** A message that announces a stream (its chunks come through the stream transport). */
function isStreamHead(envelope: Envelope): envelope is Envelope & { stream_id: string } {
  return envelope.is_stream && envelope.stream_id !== null && envelope.chunk_index === null;
}

/** Whether a config value holds a `{ $ref }` anywhere. */
function hasReferences(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(hasReferences);
  if (typeof value !== 'object' || value === null) return false;
  if (typeof (value as { $ref?: unknown }).$ref === 'string') return true;
  return Object.values(value).some(hasReferences);
}

/** A stable id for what `component` produced as `what` from the message `parentId` (UUID-shaped). */
export function derivedMessageId(parentId: string, component: string, what: string): string {
  const hex = createHash('sha256').update(`${parentId}\u0000${component}\u0000${what}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
