/**
 * `createRuntime(topology, options)`: runs a topology — every component, or the ones named in
 * `options.components` — on a bus, and lets an application talk to its sessions. Embedded (the
 * default: a private in-memory bus, sessions in memory) it is the whole system in one process;
 * given a broker URL and a Redis session store, the same code is one host of a distributed system.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import path from 'node:path';
import { createBus, deleteMemoryBroker, type Bus, type EnvelopeInit } from '@woodwork/bus';
import { createMetricsEmitter, loadIngestionClient, type IngestionClient, type MetricsEmitter, type MetricsLogger } from '@woodwork/metrics';
import { findComponentType, type KindRole, type Topology, type TopologyComponent } from '@woodwork/parser';
import type { MeterProvider } from '@opentelemetry/api';
import { CallService, componentNamed } from './calls.js';
import { calleeConfig, resolveConfig } from './config.js';
import { errorMessage, WoodworkRuntimeError } from './errors.js';
import { EventTypes, inputPayload } from './events.js';
import { aggregate, ComponentHost, type ComponentStats, type HostServices, type HostSettings } from './host.js';
import { createConsoleLogger } from './logger.js';
import { ModuleLoader } from './modules/module-loader.js';
import { createBuiltinRegistry } from './components/index.js';
import { isInstalled, packageForKind, registerOptionalComponents } from './components/optional.js';
import type { ComponentRegistry } from './registry.js';
import { SessionHub } from './session-hub.js';
import { createBullmqSessionTimer } from './sessions/bullmq-timer.js';
import { createBullmqWakeTimer } from './sessions/bullmq-wakeups.js';
import { SessionManager } from './sessions/manager.js';
import { createMemorySessionStore } from './sessions/memory-store.js';
import { createRedisSessionStore } from './sessions/redis-store.js';
import type { SessionStore } from './sessions/store.js';
import type { SessionTimer } from './sessions/timer.js';
import { createMemoryWakeTimer, type WakeTimer, type Wakeup } from './sessions/wakeups.js';
import { createBusTransport, createInProcessTransport, type StreamTransport } from './streams.js';
import { componentTopic, DEFAULT_NAMESPACE, eventsTopic, isValidNamespace } from './topics.js';
import { newTrace, traceIdOf, traceOfTurn } from './trace.js';
import type {
  AskOptions,
  EventsOptions,
  JsonValue,
  Logger,
  RuntimeIO,
  SendOptions,
  SessionClient,
  SessionEvent,
  SessionInfo,
  SessionRecords,
  Turn,
  TurnResult,
} from './types.js';

export interface RuntimeOptions {
  /**
   * The bus: a connected `Bus`, or a URL for `createBus` (`redis://…`, `nats://…`, `kafka://…`).
   * Default: a private in-memory bus (`memory://runtime-<id>`), created on start and deleted on
   * stop, so two runtimes in one process never see each other's messages.
   */
  readonly bus?: Bus | string | URL;
  /**
   * Which implementation runs each kind/type. Default: the built-in components, plus those of
   * `@woodwork/ai` when the topology uses its kinds and it is installed (loaded on start).
   */
  readonly registry?: ComponentRegistry;
  /**
   * Where sessions live: a `SessionStore`, or `{ redis: url }` for Redis (distributed mode), where
   * session timeouts are BullMQ delayed jobs (`bullmq` must be installed).
   * Default: in memory, for as long as the runtime runs.
   */
  readonly sessions?: SessionStore | { readonly redis: string; readonly prefix?: string };
  /**
   * The first segment of every topic (`<ns>.component.<name>`, `<ns>.events`), so several
   * topologies can share one broker. Default `woodwork`. Every process of one topology must agree.
   */
  readonly namespace?: string;
  /**
   * Run only these components (the host of one component or `vm server` group in distributed
   * mode). Default: all of them. `send` and `events` work either way. Only their configs are read
   * and resolved: the other components' env references (a host loads them unresolved) are never
   * needed here, not even for a reference to one of them (see `ComponentReference.config`).
   */
  readonly components?: readonly string[];
  /** Resolves `$NAME` references still in the topology. Default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** The project folder: pipe and hook paths are relative to it. Default: the folder of `topology.file`. */
  readonly projectDir?: string;
  /** Where terminal components write. Default: the process's stdout and stderr. */
  readonly io?: Partial<RuntimeIO>;
  /** Default: warnings and errors to stderr (`createConsoleLogger()`). */
  readonly logger?: Logger;
  /** A session ends after this long without input. Default 30 minutes. */
  readonly sessionTimeoutMs?: number;
  /** Events kept per session for `events()` readers that come late. Default 1 000. */
  readonly sessionHistory?: number;
  /** How long `ask` (and `Turn.result`) waits for a turn. Default 120 s: an agent may think for a while. */
  readonly turnTimeoutMs?: number;
  /**
   * How long a component's host keeps publishing again what the bus failed to take with a
   * retryable error (a broker restarting), before the message fails with
   * `WW_RUNTIME_PUBLISH_FAILED`. Publishing again is safe: message ids are kept and consumers
   * drop copies. Default: `turnTimeoutMs` (120 s), past which nobody waits for the reply. Streams
   * over the bus (@woodwork/stream) get the same bound for their chunks, credits and ends.
   */
  readonly publishRetryMs?: number;
  /** How long a call to another component waits. Default 60 s. */
  readonly callTimeoutMs?: number;
  /** A hook running longer is logged and counted as timed out. Default 10 s. */
  readonly hookTimeoutMs?: number;
  /** A pipe running longer fails the message. Default 30 s: pipes sit in the chain. */
  readonly pipeTimeoutMs?: number;
  /** How long `stop()` waits for open turns to complete. Default 10 s. */
  readonly drainTimeoutMs?: number;
  /**
   * Messages one component takes from the bus at once (across sessions; one at a time per session).
   * Default 64. A component's `max_concurrency` in the `.ww` file bounds its handlings below this.
   */
  readonly maxInFlight?: number;
  /**
   * Deliveries of one message by the bus: a host that died mid-message, a failure that could not be
   * reported. Default 3. Retries of a failing `handle` are the component's `retry` in the `.ww` file.
   */
  readonly maxAttempts?: number;
  /**
   * How often each component's queue depth is read from the bus and recorded
   * (`woodwork.component.queue.depth`). Default 5 s; 0 turns it off.
   */
  readonly queueDepthIntervalMs?: number;
  /** The Python interpreter for `.py` pipes and hooks. Default `WOODWORK_PYTHON` or `python3`. */
  readonly python?: string;
  readonly metrics?: {
    /** Default: the global MeterProvider of @opentelemetry/api (noop unless an SDK is registered). */
    readonly meterProvider?: MeterProvider;
    /**
     * Publish a `metrics.component_performance` event on the events topic after every step.
     * Default false: it is one more bus message per step. The host process and `woodwork
     * run/dev/up` turn it on with `WOODWORK_METRICS_EVENTS=1`.
     */
    readonly events?: boolean;
  };
  /**
   * How chunk streams travel between components. `auto` (default): in-process channels on the
   * in-memory bus, @woodwork/stream over the bus otherwise. `bus`: always @woodwork/stream (what
   * distributed mode uses; handy to test it embedded). `in-process`: only when every reader is in
   * this process.
   */
  readonly streams?: 'auto' | 'bus' | 'in-process';
  /** This runtime's name on the bus (replies topic, session readers' group). Default: host-pid-random. */
  readonly instanceId?: string;
}

export type RuntimeState = 'created' | 'starting' | 'running' | 'stopping' | 'stopped';

/** One session, from `runtime.session()`. Disposing it ends it. */
export interface Session extends AsyncDisposable {
  readonly id: string;
  /** Sends input; the turn's `result` resolves when every branch has replied. */
  send(input: unknown, options?: Omit<SendOptions, 'metadata'>): Promise<Turn>;
  ask(input: unknown, options?: Omit<AskOptions, 'metadata'>): Promise<TurnResult>;
  events(options?: EventsOptions): AsyncIterable<SessionEvent>;
  end(reason?: string): Promise<void>;
}

/** What changed in a hot reload. */
export interface ReloadSummary {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  /** Declarations that changed: restarted, their session state dropped. */
  readonly changed: readonly string[];
  /** Restarted because their code (pipes, hooks, modules) changed; session state kept. */
  readonly restarted: readonly string[];
  readonly unchanged: readonly string[];
}

export interface RuntimeHealth {
  readonly state: RuntimeState;
  readonly bus: { readonly connected: boolean; readonly ready: boolean; readonly adapter: string };
  readonly components: readonly string[];
  readonly openTurns: number;
}

export interface Runtime extends SessionClient, AsyncDisposable {
  readonly state: RuntimeState;
  readonly topology: Topology;
  readonly namespace: string;
  readonly instanceId: string;
  /** The bus, once started. */
  readonly bus: Bus;
  /** Connects, loads every pipe and hook, builds and starts the components. Throws (and cleans up) on any problem. */
  start(): Promise<void>;
  /** Sends input into a session (a new one when `sessionId` is undefined) and resolves with the session id. */
  send(sessionId: string | undefined, input: unknown, options?: SendOptions): Promise<string>;
  /** A handle on a session (created when missing). */
  session(id?: string, options?: { readonly metadata?: Readonly<Record<string, JsonValue>> }): Promise<Session>;
  /** Swaps in a new version of the topology, restarting only what changed (`woodwork dev`). */
  reload(topology: Topology, options?: { readonly changedFiles?: readonly string[] }): Promise<ReloadSummary>;
  /** Counters per hosted component. */
  stats(): Readonly<Record<string, Readonly<ComponentStats>>>;
  health(): Promise<RuntimeHealth>;
  /** Stops taking input, waits for open turns (up to `drainTimeoutMs`), stops every component, disconnects. */
  stop(): Promise<void>;
}

const DEFAULTS = {
  sessionTimeoutMs: 30 * 60_000,
  sessionHistory: 1_000,
  turnTimeoutMs: 120_000,
  callTimeoutMs: 60_000,
  hookTimeoutMs: 10_000,
  pipeTimeoutMs: 30_000,
  drainTimeoutMs: 10_000,
  maxInFlight: 64,
  maxAttempts: 3,
  queueDepthIntervalMs: 5_000,
} as const;

/** A turn id: a W3C trace id. */
const TURN_ID = /^[0-9a-f]{32}$/;

function instanceName(): string {
  return `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`.replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, 'i');
}

function isBus(value: unknown): value is Bus {
  return typeof value === 'object' && value !== null && typeof (value as Bus).publish === 'function' && typeof (value as Bus).subscribe === 'function';
}

function isStore(value: unknown): value is SessionStore {
  return typeof value === 'object' && value !== null && typeof (value as SessionStore).adjustTurn === 'function';
}

/** What to do about a component without an implementation: install the package that has it, or register one. */
function missingImplementationHint(component: TopologyComponent, defaultRegistry: boolean): string {
  const entry = packageForKind(component.kind);
  if (!entry) return `register one with registry.register('${component.kind}', '${component.type}', factory)`;
  if (defaultRegistry && isInstalled(entry.name)) {
    return `\`${component.kind} ${component.type}\` is planned: the installed ${entry.name} does not implement it yet (\`woodwork validate\` lists what runs)`;
  }
  return defaultRegistry
    ? `install ${entry.name} to run \`${component.kind}\` components (npm install ${entry.name})`
    : `register ${entry.name}'s components in your registry (for (const c of ${entry.exportName}) registry.register(c)), or install ${entry.name} if it is missing`;
}

function roleOf(component: TopologyComponent, registry: ComponentRegistry): KindRole {
  return registry.get(component.kind, component.type)?.role ?? findComponentType(component.kind, component.type)?.kindSpec.role ?? 'processor';
}

/** A component's declaration without where it is written, to tell a real change from a moved line. */
function fingerprint(component: TopologyComponent): string {
  const strip = (spec: TopologyComponent['pipes'][number]) => ({ event: spec.event, module: spec.module, export: spec.export, language: spec.language });
  return JSON.stringify({
    kind: component.kind,
    type: component.type,
    config: component.config,
    to: component.to,
    pipes: component.pipes.map(strip),
    hooks: component.hooks.map(strip),
    streaming: component.streaming,
    deployment: component.deployment,
    metrics: component.metrics,
    group: component.group,
  });
}

function referencedNames(value: unknown, into: Set<string>): Set<string> {
  if (Array.isArray(value)) for (const item of value) referencedNames(item, into);
  else if (typeof value === 'object' && value !== null) {
    const record = value as Record<string, unknown>;
    if (typeof record.$ref === 'string' && Object.keys(record).length === 1) into.add(record.$ref);
    else for (const item of Object.values(record)) referencedNames(item, into);
  }
  return into;
}

function stringsIn(value: unknown, into: string[]): string[] {
  if (typeof value === 'string') into.push(value);
  else if (Array.isArray(value)) for (const item of value) stringsIn(item, into);
  else if (typeof value === 'object' && value !== null) for (const item of Object.values(value)) stringsIn(item, into);
  return into;
}

class EmbeddedRuntime implements Runtime {
  readonly checksRequiredMetadata = true;
  state: RuntimeState = 'created';
  readonly namespace: string;
  readonly instanceId: string;
  private current: Topology;
  private readonly registry: ComponentRegistry;
  private readonly logger: Logger;
  private readonly io: RuntimeIO;
  private readonly env: Readonly<Record<string, string | undefined>>;
  private readonly settings: HostSettings;
  private readonly projectDir: string;
  private busInstance: Bus | undefined;
  private ownsBus = false;
  private privateBroker: string | undefined;
  private store: SessionStore | undefined;
  private ownsStore = false;
  private sessionTimer: SessionTimer | undefined;
  private wakeTimer: WakeTimer | undefined;
  private sessionManager: SessionManager | undefined;
  private hub: SessionHub | undefined;
  private calls: CallService | undefined;
  private loader: ModuleLoader | undefined;
  private streams: StreamTransport | undefined;
  private hosts = new Map<string, ComponentHost>();
  private readonly metrics = new Map<string, MetricsEmitter>();
  /** The enterprise ingestion client, loaded once, when the first `enterprise_enabled` component starts. */
  private ingestion: Promise<IngestionClient | null> | undefined;
  private stopping: Promise<void> | undefined;
  /** Counters of the hosts as they were when the runtime stopped. */
  private finalStats: Record<string, ComponentStats> | undefined;
  private reloading: Promise<unknown> = Promise.resolve();

  constructor(
    topology: Topology,
    private readonly options: RuntimeOptions,
  ) {
    if (typeof topology !== 'object' || topology === null || !Array.isArray(topology.components)) {
      throw new WoodworkRuntimeError('WW_RUNTIME_INVALID_ARGUMENT', 'createRuntime needs a topology (from loadTopology of @woodwork/parser)', {
        userError: false,
      });
    }
    this.current = topology;
    this.namespace = options.namespace ?? DEFAULT_NAMESPACE;
    if (!isValidNamespace(this.namespace)) {
      throw new WoodworkRuntimeError('WW_RUNTIME_INVALID_ARGUMENT', `namespace ${JSON.stringify(this.namespace)} must be 1-64 letters, digits, "_" or "-"`);
    }
    this.instanceId = options.instanceId ?? instanceName();
    this.registry = options.registry ?? createBuiltinRegistry();
    this.logger = options.logger ?? createConsoleLogger();
    const stdout = options.io?.stdout ?? process.stdout;
    const env = options.env ?? process.env;
    this.env = env;
    this.io = {
      stdout,
      stderr: options.io?.stderr ?? process.stderr,
      color: options.io?.color ?? ((stdout as { isTTY?: boolean }).isTTY === true && !env.NO_COLOR),
      ...(options.io?.announce ? { announce: options.io.announce } : {}),
    };
    this.settings = {
      maxInFlight: options.maxInFlight ?? DEFAULTS.maxInFlight,
      maxAttempts: options.maxAttempts ?? DEFAULTS.maxAttempts,
      hookTimeoutMs: options.hookTimeoutMs ?? DEFAULTS.hookTimeoutMs,
      pipeTimeoutMs: options.pipeTimeoutMs ?? DEFAULTS.pipeTimeoutMs,
      queueDepthIntervalMs: options.queueDepthIntervalMs ?? DEFAULTS.queueDepthIntervalMs,
      publishRetryMs: options.publishRetryMs ?? options.turnTimeoutMs ?? DEFAULTS.turnTimeoutMs,
    };
    this.projectDir = options.projectDir ?? path.dirname(path.resolve(topology.file));
  }

  get topology(): Topology {
    return this.current;
  }

  get bus(): Bus {
    if (!this.busInstance) throw new WoodworkRuntimeError('WW_RUNTIME_STATE', 'the runtime has not started yet', { hint: 'await runtime.start() first' });
    return this.busInstance;
  }

  // -------------------------------------------------------------------------------------------
  // Starting

  private selected(topology: Topology): TopologyComponent[] {
    const wanted = this.options.components;
    if (wanted === undefined) return [...topology.components];
    const unknown = wanted.filter((name) => !topology.components.some((component) => component.name === name));
    if (unknown.length > 0) {
      throw new WoodworkRuntimeError('WW_RUNTIME_INVALID_TOPOLOGY', `no component named ${unknown.map((name) => `\`${name}\``).join(', ')} in ${topology.file}`, {
        hint: `the components are ${topology.components.map((component) => component.name).join(', ')}`,
      });
    }
    return topology.components.filter((component) => wanted.includes(component.name));
  }

  private services(topology: () => Topology): HostServices {
    return {
      namespace: this.namespace,
      bus: this.busInstance!,
      sessions: this.sessionManager!,
      loader: this.loader!,
      streams: this.streams,
      logger: this.logger,
      io: this.io,
      settings: this.settings,
      env: this.env,
      topology,
      resolveConfig: (component) => {
        const current = topology();
        return resolveConfig(component, current, {
          env: this.env,
          reference: (name) => {
            const target = componentNamed(current, name);
            if (!target) {
              throw new WoodworkRuntimeError('WW_RUNTIME_INVALID_TOPOLOGY', `component \`${component.name}\` refers to \`${name}\`, which is not in the topology`, {
                component: component.name,
                location: component.location,
              });
            }
            return this.calls!.reference(target, calleeConfig(target, current, this.env, this.options.components?.includes(target.name) ?? true));
          },
        });
      },
      metricsFor: (component) => this.metricsFor(component),
      sessionClientFor: (component) => this.client(component),
    };
  }

  private async metricsFor(component: TopologyComponent): Promise<MetricsEmitter> {
    const enterprise = component.metrics.enterprise_enabled;
    const key = `${component.name}\u0000${component.metrics.custom_metrics.join(',')}\u0000${enterprise}`;
    const existing = this.metrics.get(key);
    if (existing) return existing;
    // The ingestion package is looked for once per runtime (env: WOODWORK_ENTERPRISE_API_KEY,
    // WOODWORK_ENTERPRISE_MODULE); without it, the key or the flag, nothing is sent.
    const ingestion = enterprise ? await (this.ingestion ??= loadIngestionClient({ enabled: true, env: this.env, logger: this.metricsLogger() })) : null;
    const bus = this.busInstance!;
    const topic = eventsTopic(this.namespace);
    const emitter = createMetricsEmitter({
      component: component.name,
      customMetrics: component.metrics.custom_metrics,
      logger: this.metricsLogger(),
      ...(this.options.metrics?.meterProvider ? { meterProvider: this.options.metrics.meterProvider } : {}),
      ...(this.options.metrics?.events ? { events: { publish: (_topic: string, event) => bus.publish(topic, event), topic } } : {}),
      ...(ingestion ? { ingestion } : {}),
    });
    this.metrics.set(key, emitter);
    return emitter;
  }

  /** The metrics package's reports (ingestion not found, a failing event publish) in the runtime's log. */
  private metricsLogger(): MetricsLogger {
    return {
      debug: (message) => this.logger.debug(message),
      warn: (message, error) => this.logger.warn(message, error === undefined ? undefined : { error: errorMessage(error) }),
    };
  }

  private createHosts(topology: Topology, components: readonly TopologyComponent[], services: HostServices): { hosts: ComponentHost[]; problems: unknown[] } {
    const hosts: ComponentHost[] = [];
    const problems: unknown[] = [];
    for (const component of components) {
      const registered = this.registry.get(component.kind, component.type);
      if (!registered) {
        problems.push(
          new WoodworkRuntimeError(
            'WW_RUNTIME_UNKNOWN_COMPONENT_TYPE',
            `component \`${component.name}\` is \`${component.kind} ${component.type}\`, which has no implementation in this runtime`,
            {
              location: component.location,
              component: component.name,
              hint: missingImplementationHint(component, this.options.registry === undefined),
            },
          ),
        );
        continue;
      }
      hosts.push(new ComponentHost(component, registered, services));
    }
    void topology;
    return { hosts, problems };
  }

  async start(): Promise<void> {
    if (this.state !== 'created') {
      throw new WoodworkRuntimeError('WW_RUNTIME_STATE', `the runtime cannot start: it is ${this.state}`, { userError: false });
    }
    this.state = 'starting';
    try {
      await this.connect();
      const topology = this.current;
      const services = this.services(() => this.current);
      if (this.options.registry === undefined) await registerOptionalComponents(this.registry, this.selected(topology));
      const { hosts, problems } = this.createHosts(topology, this.selected(topology), services);
      const prepared = await Promise.allSettled(hosts.map((host) => host.prepare()));
      for (const result of prepared) if (result.status === 'rejected') problems.push(result.reason);
      if (problems.length > 0) {
        await Promise.all(hosts.map((host) => host.dispose()));
        throw aggregate(problems);
      }
      for (const host of hosts) this.hosts.set(host.name, host);
      for (const host of hosts) await host.subscribe();
      for (const host of hosts) await host.start();
      this.sessionManager!.startSweeping((error) => this.logger.warn('session sweep failed', { error: errorMessage(error) }));
      this.state = 'running';
    } catch (error) {
      this.state = 'stopping';
      await this.release().catch(() => undefined);
      this.state = 'stopped';
      throw error;
    }
  }

  private async connect(): Promise<void> {
    const busOption = this.options.bus;
    if (isBus(busOption)) {
      this.busInstance = busOption;
    } else {
      let url = busOption;
      if (url === undefined) {
        this.privateBroker = `runtime-${this.instanceId}`;
        url = `memory://${this.privateBroker}`;
      }
      this.busInstance = await createBus(url);
      this.ownsBus = true;
    }
    const sessionsOption = this.options.sessions;
    if (isStore(sessionsOption)) {
      this.store = sessionsOption;
    } else if (sessionsOption !== undefined) {
      const prefix = sessionsOption.prefix ?? `woodwork:${this.namespace}`;
      this.store = await createRedisSessionStore({ url: sessionsOption.redis, prefix });
      this.ownsStore = true;
      this.sessionTimer = await createBullmqSessionTimer({ url: sessionsOption.redis, prefix });
      this.wakeTimer = await createBullmqWakeTimer({ url: sessionsOption.redis, prefix });
    } else {
      this.store = createMemorySessionStore();
      this.ownsStore = true;
    }
    this.sessionManager = new SessionManager(this.store, {
      timeoutMs: this.options.sessionTimeoutMs ?? DEFAULTS.sessionTimeoutMs,
      ...(this.sessionTimer ? { timer: this.sessionTimer } : {}),
      // A store passed in as an object is this process's: its wake-ups wait here too.
      wakeups: (this.wakeTimer ??= createMemoryWakeTimer()),
      deliver: (wakeup) => this.deliverWakeup(wakeup),
      onEnded: (sessionId, reason) => this.sessionEnded(sessionId, reason),
    });
    const overBus = this.options.streams === 'bus' || (this.options.streams !== 'in-process' && this.busInstance.capabilities.crossProcess);
    this.streams = overBus
      ? createBusTransport({
          bus: this.busInstance,
          namespace: this.namespace,
          instanceId: this.instanceId,
          onError: (error) => this.logger.warn('stream error', { error: errorMessage(error) }),
          publishRetryMs: this.settings.publishRetryMs,
        })
      : createInProcessTransport();
    this.loader = new ModuleLoader({
      projectDir: this.projectDir,
      stdout: this.io.stdout,
      stderr: this.io.stderr,
      ...(this.options.python === undefined ? {} : { python: this.options.python }),
    });
    this.hub = new SessionHub({
      bus: this.busInstance,
      namespace: this.namespace,
      instanceId: this.instanceId,
      historyLimit: this.options.sessionHistory ?? DEFAULTS.sessionHistory,
    });
    // Sessions begin where there is an input, or in a client that hosts nothing (an app, `up`'s
    // terminal): there the subscription is made now, so the first turn does not wait for it.
    // Other hosts subscribe only if something opens a session in them.
    const selected = this.selected(this.current);
    if (selected.length === 0 || selected.some((component) => roleOf(component, this.registry) === 'input')) await this.hub.start();
    this.calls = new CallService({
      bus: this.busInstance,
      namespace: this.namespace,
      instanceId: this.instanceId,
      streams: this.streams,
      timeoutMs: this.options.callTimeoutMs ?? DEFAULTS.callTimeoutMs,
    });
  }

  /**
   * A due wake-up (`context.session.wakeAt`): its input goes to its component as an input of the
   * session, a turn of its own, as `submit` sends one — from whichever runtime's timer fired, which
   * need not host the component. Thrown errors are retried by the timer.
   */
  private async deliverWakeup(wakeup: Wakeup): Promise<void> {
    if (this.state !== 'running') {
      throw new WoodworkRuntimeError('WW_RUNTIME_STATE', `the runtime is ${this.state}`, { isRetryable: true });
    }
    const trace = newTrace();
    await this.sessionManager!.adjustTurn(wakeup.sessionId, traceIdOf(trace)!, 1);
    await this.bus.publish(componentTopic(this.namespace, wakeup.component), {
      session_id: wakeup.sessionId,
      event_type: EventTypes.inputReceived,
      component_source: 'runtime',
      component_target: wakeup.component,
      payload: inputPayload(wakeup.input),
      trace,
      routing: { next_component: wakeup.component },
    });
  }

  private sessionEnded(sessionId: string, reason: string): void {
    const bus = this.busInstance;
    const forget = () => this.hub?.forget(sessionId);
    if (!bus || this.state === 'stopped') return forget();
    // Readers finish when the event comes back through the hub (after every earlier event);
    // if it cannot be published, they finish now.
    bus
      .publish(eventsTopic(this.namespace), {
        session_id: sessionId,
        event_type: EventTypes.sessionEnded,
        component_source: 'runtime',
        payload: { reason },
      })
      .catch((error: unknown) => {
        forget();
        this.logger.debug('could not publish session.ended', { session: sessionId, error: errorMessage(error) });
      });
  }

  // -------------------------------------------------------------------------------------------
  // Sessions

  private running(): void {
    if (this.state !== 'running') {
      throw new WoodworkRuntimeError('WW_RUNTIME_STATE', `the runtime is ${this.state}`, {
        hint: this.state === 'created' ? 'await runtime.start() first' : 'start a new runtime',
      });
    }
  }

  /** The component input goes into: `to`, else the first input, else the first entry point. */
  entry(to: string | undefined): string {
    const components = this.current.components;
    if (to !== undefined) {
      if (!components.some((component) => component.name === to)) {
        throw new WoodworkRuntimeError('WW_RUNTIME_INVALID_ARGUMENT', `no component named \`${to}\` to send input to`, {
          hint: `the components are ${components.map((component) => component.name).join(', ')}`,
        });
      }
      return to;
    }
    const input = components.find((component) => roleOf(component, this.registry) === 'input');
    if (input) return input.name;
    const routedTo = new Set(components.flatMap((component) => component.to));
    const entry =
      components.find((component) => roleOf(component, this.registry) === 'processor' && !routedTo.has(component.name)) ??
      components.find((component) => roleOf(component, this.registry) === 'processor');
    if (!entry) {
      throw new WoodworkRuntimeError('WW_RUNTIME_INVALID_TOPOLOGY', `${this.current.file} has no component to send input to`, {
        hint: 'declare an input (`input = cli {}`) or a component that processes messages',
      });
    }
    return entry.name;
  }

  private async openSession(sessionId: string | undefined, metadata: Readonly<Record<string, JsonValue>> | undefined): Promise<string> {
    const manager = this.sessionManager!;
    await this.hub!.start();
    const { info, created } = await manager.open(sessionId, metadata ?? {});
    this.hub!.track(info.id);
    if (created) {
      await this.bus.publish(eventsTopic(this.namespace), {
        session_id: info.id,
        event_type: EventTypes.sessionStarted,
        component_source: 'runtime',
        payload: { metadata: info.metadata },
      });
    }
    return info.id;
  }

  /**
   * The session of a turn, opened, touched and with the turn's branch counted. A turn usually comes
   * for a session that exists (a client's second message, the gateway's POST after it created
   * one), so that is tried first: touching it (which fails for a session that does not exist) and
   * counting the branch are one round trip to the store, where opening first (create, which fails,
   * then read) cost two more before the input could go out. A new or expired id is opened as
   * before, `session.started` and all. With `requireMetadata` (the gateway: the session's owner) the
   * touch is the check, so the gateway no longer reads the session before it.
   */
  private async openTurn(sessionId: string | undefined, turnId: string, options: SendOptions): Promise<string> {
    const manager = this.sessionManager!;
    const { metadata, requireMetadata: required } = options;
    if (sessionId !== undefined) {
      SessionManager.checkId(sessionId);
      // The turn is counted while the session is checked (one round trip for both), and uncounted in
      // the rare case the check fails.
      const touched = required === undefined ? manager.touch(sessionId) : manager.touchIfMetadata(sessionId, required.key, required.value);
      const [[exists]] = await Promise.all([Promise.all([touched, manager.adjustTurn(sessionId, turnId, 1)]), this.hub!.start()]);
      if (exists) {
        this.hub!.track(sessionId);
        return sessionId;
      }
      if (required !== undefined) {
        await manager.adjustTurn(sessionId, turnId, -1);
        throw new WoodworkRuntimeError('WW_RUNTIME_SESSION', `session ${sessionId} does not exist, or its metadata \`${required.key}\` is not the one required`, {
          sessionId,
          hint: 'create the session first (it is created with the metadata you pass), or send without requireMetadata',
        });
      }
      return this.openSession(sessionId, metadata);
    }
    if (required !== undefined) {
      throw new WoodworkRuntimeError('WW_RUNTIME_SESSION', 'requireMetadata needs the id of an existing session', { hint: 'pass the session id, or send without requireMetadata' });
    }
    const id = await this.openSession(undefined, metadata);
    await manager.adjustTurn(id, turnId, 1);
    return id;
  }

  async create(options: { readonly id?: string; readonly metadata?: Readonly<Record<string, JsonValue>> } = {}): Promise<string> {
    this.running();
    return this.openSession(options.id, options.metadata);
  }

  async submit(sessionId: string | undefined, input: unknown, options: SendOptions & { readonly timeoutMs?: number } = {}): Promise<Turn> {
    this.running();
    const target = this.entry(options.to);
    if (options.turnId !== undefined && !TURN_ID.test(options.turnId)) {
      throw new WoodworkRuntimeError('WW_RUNTIME_INVALID_ARGUMENT', `turnId \`${options.turnId}\` is not a turn id`, { hint: 'pass the turnId of an earlier turn: 32 lowercase hex digits' });
    }
    const trace = options.turnId === undefined ? newTrace() : traceOfTurn(options.turnId);
    const turnId = traceIdOf(trace)!;
    const id = await this.openTurn(sessionId, turnId, options);
    const settled = this.hub!.waitTurn(id, turnId, options.timeoutMs ?? this.options.turnTimeoutMs ?? DEFAULTS.turnTimeoutMs);
    const envelope: EnvelopeInit = {
      ...(options.messageId === undefined ? {} : { message_id: options.messageId }),
      session_id: id,
      event_type: EventTypes.inputReceived,
      component_source: 'runtime',
      component_target: target,
      payload: inputPayload(input),
      trace,
      routing: { next_component: target },
    };
    // An input component's result is the session's `input.received` event; without one (input
    // sent straight to an llm or agent), the runtime tells the session itself, first, so clients
    // and hooks see every turn start the same way.
    const entryComponent = componentNamed(this.current, target);
    if (entryComponent && roleOf(entryComponent, this.registry) !== 'input') await this.bus.publish(eventsTopic(this.namespace), envelope);
    await this.bus.publish(componentTopic(this.namespace, target), envelope);
    let result: Promise<TurnResult> | undefined;
    return {
      sessionId: id,
      turnId,
      get result() {
        result ??= settled.then((value) => {
          if (value instanceof Error) throw value;
          return value;
        });
        return result;
      },
    };
  }

  async send(sessionId: string | undefined, input: unknown, options: SendOptions = {}): Promise<string> {
    return (await this.submit(sessionId, input, options)).sessionId;
  }

  async ask(sessionId: string | undefined, input: unknown, options: AskOptions = {}): Promise<TurnResult> {
    const turn = await this.submit(sessionId, input, options);
    if (!options.signal) return turn.result;
    const signal = options.signal;
    return new Promise<TurnResult>((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      turn.result.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  events(sessionId: string, options: EventsOptions = {}): AsyncIterable<SessionEvent> {
    if (!this.hub) throw new WoodworkRuntimeError('WW_RUNTIME_STATE', 'the runtime has not started yet', { hint: 'await runtime.start() first' });
    void this.hub.start().catch((error: unknown) => this.logger.warn('could not subscribe to session events', { error: errorMessage(error) }));
    return this.hub.events(sessionId, options);
  }

  async get(sessionId: string): Promise<SessionInfo | undefined> {
    if (!this.sessionManager) return undefined;
    return this.sessionManager.get(sessionId);
  }

  async end(sessionId: string, reason = 'ended'): Promise<void> {
    if (!this.sessionManager) return;
    await this.sessionManager.end(sessionId, reason);
  }

  async session(id?: string, options: { readonly metadata?: Readonly<Record<string, JsonValue>> } = {}): Promise<Session> {
    const sessionId = await this.create({ ...(id === undefined ? {} : { id }), ...(options.metadata ? { metadata: options.metadata } : {}) });
    const runtime = this;
    return {
      id: sessionId,
      send: (input, sendOptions) => runtime.submit(sessionId, input, sendOptions),
      ask: (input, askOptions) => runtime.ask(sessionId, input, askOptions),
      events: (eventsOptions) => runtime.events(sessionId, eventsOptions),
      end: (reason) => runtime.end(sessionId, reason),
      [Symbol.asyncDispose]: () => runtime.end(sessionId),
    };
  }

  /** The session store's records, when it keeps them (both built-in stores do); undefined before `start()`. */
  get records(): SessionRecords | undefined {
    const store = this.store;
    if (!store?.putRecordIfAbsent || !store.putRecord || !store.getRecord) return undefined;
    return {
      putIfAbsent: (key, value, ttlMs) => store.putRecordIfAbsent!(key, value, ttlMs),
      put: (key, value, ttlMs) => store.putRecord!(key, value, ttlMs),
      get: (key) => store.getRecord!(key),
    };
  }

  /** A session client whose input goes into `component` (what an input component gets). */
  client(component: string): SessionClient {
    const runtime = this;
    return {
      checksRequiredMetadata: true,
      get records() {
        return runtime.records;
      },
      create: (options) => runtime.create(options),
      submit: (sessionId, input, options = {}) => runtime.submit(sessionId, input, { ...options, to: options.to ?? component }),
      ask: (sessionId, input, options = {}) => runtime.ask(sessionId, input, { ...options, to: options.to ?? component }),
      events: (sessionId, options) => runtime.events(sessionId, options),
      get: (sessionId) => runtime.get(sessionId),
      end: (sessionId, reason) => runtime.end(sessionId, reason),
    };
  }

  // -------------------------------------------------------------------------------------------
  // Hot reload

  reload(next: Topology, options: { readonly changedFiles?: readonly string[] } = {}): Promise<ReloadSummary> {
    const work = this.reloading.then(() => this.doReload(next, options));
    this.reloading = work.catch(() => undefined);
    return work;
  }

  private async doReload(next: Topology, options: { readonly changedFiles?: readonly string[] }): Promise<ReloadSummary> {
    this.running();
    const previous = this.current;
    const wanted = this.selected(next);
    const before = new Map(previous.components.map((component) => [component.name, component]));
    const after = new Map(wanted.map((component) => [component.name, component]));

    const added = wanted.filter((component) => !before.has(component.name)).map((component) => component.name);
    const removed = [...this.hosts.keys()].filter((name) => !after.has(name));
    const changed = wanted
      .filter((component) => before.has(component.name) && fingerprint(before.get(component.name)!) !== fingerprint(component))
      .map((component) => component.name);

    // Code: the modules of pipes and hooks, and files named in config, that changed on disk.
    const changedFiles = new Set((options.changedFiles ?? []).map((file) => path.resolve(file)));
    changedFiles.delete(path.resolve(next.file));
    const codeChanged = new Set<string>();
    if (changedFiles.size > 0) {
      await this.loader!.invalidate();
      const modulesOf = (component: TopologyComponent) =>
        [...component.pipes, ...component.hooks].map((spec) => path.resolve(this.projectDir, spec.module));
      const direct = new Set<string>();
      for (const component of wanted) {
        if (modulesOf(component).some((file) => changedFiles.has(file))) codeChanged.add(component.name);
        for (const file of modulesOf(component)) direct.add(file);
      }
      const indirect = [...changedFiles].filter((file) => !direct.has(file));
      if (indirect.length > 0) {
        // A helper a module imports, a prompt file, a functions module: restart whatever may use it.
        for (const component of wanted) {
          const mentions = stringsIn(component.config, []).some((value) => indirect.some((file) => file === path.resolve(this.projectDir, value)));
          if (mentions || component.pipes.length > 0 || component.hooks.length > 0) codeChanged.add(component.name);
        }
      }
    }
    // Components whose references point at a changed component hold its old config.
    for (const component of wanted) {
      const refs = referencedNames(component.config, new Set());
      if ([...refs].some((name) => changed.includes(name) || added.includes(name))) codeChanged.add(component.name);
    }
    const rebuild = new Set([...added, ...changed, ...codeChanged].filter((name) => after.has(name)));
    const restarted = [...codeChanged].filter((name) => !changed.includes(name) && !added.includes(name) && this.hosts.has(name));

    // Build the new hosts first: if anything fails to load, the running ones keep running. While
    // they are prepared they see the new topology; once it is swapped in, the current one.
    const view: { pending: Topology | undefined } = { pending: next };
    const services = this.services(() => view.pending ?? this.current);
    const toBuild = wanted.filter((component) => rebuild.has(component.name));
    if (this.options.registry === undefined) await registerOptionalComponents(this.registry, toBuild);
    const { hosts, problems } = this.createHosts(next, toBuild, services);
    const prepared = await Promise.allSettled(hosts.map((host) => host.prepare()));
    for (const result of prepared) if (result.status === 'rejected') problems.push(result.reason);
    if (problems.length > 0) {
      view.pending = undefined;
      await Promise.all(hosts.map((host) => host.dispose()));
      throw aggregate(problems);
    }

    const hookDrainMs = this.settings.hookTimeoutMs;
    for (const name of [...removed, ...hosts.map((host) => host.name)]) {
      const old = this.hosts.get(name);
      if (old) {
        await old.stop(hookDrainMs, this.options.drainTimeoutMs ?? DEFAULTS.drainTimeoutMs);
        this.hosts.delete(name);
      }
    }
    for (const name of [...removed, ...changed]) await this.sessionManager!.store.clearScope(name);
    this.current = next;
    view.pending = undefined;
    for (const host of hosts) this.hosts.set(host.name, host);
    for (const host of hosts) await host.subscribe();
    for (const host of hosts) await host.start();
    const unchanged = wanted.map((component) => component.name).filter((name) => !rebuild.has(name));
    return { added, removed, changed, restarted, unchanged };
  }

  // -------------------------------------------------------------------------------------------
  // Introspection and stopping

  stats(): Readonly<Record<string, Readonly<ComponentStats>>> {
    if (this.finalStats) return this.finalStats;
    const stats: Record<string, ComponentStats> = {};
    for (const [name, host] of this.hosts) stats[name] = { ...host.stats };
    return stats;
  }

  async health(): Promise<RuntimeHealth> {
    const bus = this.busInstance ? await this.busInstance.health() : { connected: false, ready: false, adapter: 'none' };
    return {
      state: this.state,
      bus: { connected: bus.connected, ready: bus.ready, adapter: bus.adapter },
      components: [...this.hosts.keys()],
      openTurns: this.hub?.openTurns ?? 0,
    };
  }

  stop(): Promise<void> {
    if (this.state === 'created') {
      this.state = 'stopped';
      return Promise.resolve();
    }
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    await this.reloading;
    // start() cleans up itself when it fails; wait for it to settle either way. A failed start
    // leaves nothing to stop, and stopping must not hide the error start() threw.
    while (this.state === 'starting') await new Promise((resolve) => setTimeout(resolve, 5));
    if (this.state === 'stopped' || !this.hub) {
      this.state = 'stopped';
      return;
    }
    this.state = 'stopping';
    const drainTimeoutMs = this.options.drainTimeoutMs ?? DEFAULTS.drainTimeoutMs;
    const drainDeadline = Date.now() + drainTimeoutMs;
    if (!(await this.hub.whenIdle(drainTimeoutMs))) {
      this.logger.warn(`stopping with ${this.hub!.openTurns} turn(s) still open after ${drainTimeoutMs} ms`);
    }
    await this.release(drainDeadline);
    this.state = 'stopped';
  }

  /** Stops hosts (inputs first, so no new work starts) and releases everything this runtime opened. */
  private async release(drainDeadline = Date.now()): Promise<void> {
    await this.sessionManager?.stopSweeping().catch(() => undefined);
    const order: Record<string, number> = { input: 0, processor: 1, tool: 2, resource: 2, output: 3, infrastructure: 4 };
    const hosts = [...this.hosts.values()].sort((a, b) => (order[a.role] ?? 1) - (order[b.role] ?? 1));
    for (const host of hosts) {
      // Handlers still running get what is left of the drain time (a host of one component, which
      // tracks no turns, gives its handlers the whole of it), then their signal is aborted.
      await host.stop(this.settings.hookTimeoutMs, Math.max(0, drainDeadline - Date.now())).catch((error: unknown) => this.logger.warn('a component did not stop cleanly', { component: host.name, error: errorMessage(error) }));
    }
    this.finalStats = this.stats() as Record<string, ComponentStats>;
    this.hosts.clear();
    const stopped = new WoodworkRuntimeError('WW_RUNTIME_STATE', 'the runtime stopped');
    await this.streams?.close(stopped).catch(() => undefined);
    await this.calls?.close().catch(() => undefined);
    await this.hub?.close().catch(() => undefined);
    await this.loader?.close().catch(() => undefined);
    for (const emitter of this.metrics.values()) await emitter.flush().catch(() => undefined);
    const ingestion = await this.ingestion;
    try {
      await ingestion?.close();
    } catch (error) {
      this.logger.warn('the enterprise ingestion client did not close cleanly', { error: errorMessage(error) });
    }
    await this.sessionTimer?.close().catch(() => undefined);
    await this.wakeTimer?.close().catch(() => undefined);
    if (this.ownsStore) await this.store?.close().catch(() => undefined);
    if (this.ownsBus) await this.busInstance?.close().catch(() => undefined);
    if (this.privateBroker) deleteMemoryBroker(this.privateBroker);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}

/**
 * A runtime for `topology`, not yet started.
 *
 * ```ts
 * const { topology } = await loadTopology('main.ww', { mode: 'run' });
 * await using runtime = createRuntime(topology!);
 * await runtime.start();
 * const reply = await runtime.ask(undefined, 'hello');
 * ```
 */
export function createRuntime(topology: Topology, options: RuntimeOptions = {}): Runtime {
  return new EmbeddedRuntime(topology, options);
}
