/**
 * The distributed component host: one process running one unit of a topology (a component, or a
 * `vm server` group) over a real bus. It
 *
 * - runs the unit's components with `createRuntime` (sessions in Redis, the bus at its URL), the
 *   same code as embedded mode;
 * - serves `GET /health` (alive), `GET /ready` (running, bus connected and ready, not draining) and
 *   `GET /metrics` (Prometheus text, when the app gave it telemetry) on one port;
 * - registers itself in the registry with a TTL, refreshed while it lives;
 * - on `stop()` (SIGTERM, see process.ts) reports not-ready, stops taking messages, finishes the
 *   ones in hand, deregisters and closes.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import type { MeterProvider } from '@opentelemetry/api';
import type { Topology } from '@woodwork/parser';
import { errorMessage, WoodworkRuntimeError } from '../errors.js';
import { createRuntime, type Runtime, type RuntimeOptions } from '../runtime.js';
import type { Logger } from '../types.js';
import type { ComponentRegistry } from '../registry.js';
import { createRedisHostRegistry, hostInstanceId, type HostRecord, type HostRegistry } from './registry.js';
import { resolveUnit, type HostUnit } from './units.js';

/** What the app hands the host for `/metrics` (what `startTelemetry` of @woodwork/metrics/node returns). */
export interface HostTelemetry {
  readonly meterProvider: MeterProvider;
  handleMetricsRequest(request: IncomingMessage, response: ServerResponse): void;
}

export interface HostOptions {
  readonly topology: Topology;
  /** A unit name, a component name, or a comma-separated list of components (`WOODWORK_COMPONENT`). */
  readonly unit: string;
  readonly busUrl: string;
  /** Redis: sessions and the registry. */
  readonly sessionsUrl: string;
  /** Default `woodwork`. */
  readonly namespace?: string;
  /** Default 8080; 0 picks a free port (see `RunningHost.port`). */
  readonly port?: number;
  /** Default `0.0.0.0`. */
  readonly listenHost?: string;
  readonly projectDir?: string;
  readonly instanceId?: string;
  /** How long `stop()` waits for the turns this host opened (the runtime's `drainTimeoutMs`). Default 12 000 ms. */
  readonly drainTimeoutMs?: number;
  /** Registry record lifetime without a heartbeat. Default 15 000 ms. */
  readonly registryTtlMs?: number;
  readonly logger: Logger;
  readonly telemetry?: HostTelemetry;
  /** Component implementations. Default: the built-in ones. */
  readonly registry?: ComponentRegistry;
  /** More runtime options (tests tune timeouts here). */
  readonly runtime?: Omit<RuntimeOptions, 'bus' | 'sessions' | 'namespace' | 'components' | 'instanceId' | 'logger' | 'projectDir'>;
}

export interface RunningHost extends AsyncDisposable {
  readonly instance: string;
  readonly unit: HostUnit;
  /** The port `/health`, `/ready` and `/metrics` answer on. */
  readonly port: number;
  readonly runtime: Runtime;
  /** Whether `/ready` answers 200 now, and if not, why. */
  readiness(): Promise<{ ready: boolean; reason?: string }>;
  /**
   * Resolves (with why) once the host cannot go on by itself — the bus lost a subscription for good
   * (`BusHealth.failed`, bus spec v1.5: a Kafka consumer that could not be recreated). Checked at
   * every registry heartbeat. The process should then stop and exit non-zero, so its supervisor
   * restarts it.
   */
  readonly failed: Promise<string>;
  /** Stops taking work, finishes what is in hand (up to the drain timeout), deregisters, closes. Idempotent. */
  stop(): Promise<void>;
}

function json(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' }).end(`${JSON.stringify(body)}\n`);
}

/** Observable counters of the hosted components (`woodwork_host_*` in Prometheus). */
function registerHostInstruments(meterProvider: MeterProvider, runtime: Runtime, ready: () => boolean): void {
  const meter = meterProvider.getMeter('@woodwork/runtime/distributed');
  const counters = [
    ['woodwork.host.messages.handled', 'handled', 'Messages a component handled to the end.'],
    ['woodwork.host.messages.failed', 'failed', 'Messages that failed (an agent.error was emitted).'],
    ['woodwork.host.pipe.failures', 'pipeFailures', 'Pipes that threw.'],
    ['woodwork.host.hook.runs', 'hookRuns', 'Hook runs.'],
    ['woodwork.host.hook.failures', 'hookFailures', 'Hooks that threw (logged; the chain went on).'],
    ['woodwork.host.hook.timeouts', 'hookTimeouts', 'Hooks that ran past their timeout (logged; the chain went on).'],
    ['woodwork.host.calls', 'calls', 'Calls from other components answered.'],
  ] as const;
  for (const [name, field, description] of counters) {
    meter.createObservableCounter(name, { description, unit: '{message}' }).addCallback((result) => {
      for (const [component, stats] of Object.entries(runtime.stats())) result.observe(stats[field], { 'woodwork.component.name': component });
    });
  }
  meter.createObservableGauge('woodwork.host.ready', { description: '1 while the host takes work.' }).addCallback((result) => result.observe(ready() ? 1 : 0));
}

/** Starts a host: HTTP endpoints first (alive while it connects), then the runtime, then the registry. */
export async function startHost(options: HostOptions): Promise<RunningHost> {
  const { topology, logger } = options;
  const unit = resolveUnit(topology, options.unit);
  const namespace = options.namespace ?? 'woodwork';
  const instance = options.instanceId ?? hostInstanceId(unit.name);
  const drainTimeoutMs = options.drainTimeoutMs ?? 12_000;
  const startedAt = Date.now();
  let state: HostRecord['state'] = 'starting';
  let registry: HostRegistry | undefined;
  let heartbeat: ReturnType<typeof setInterval> | undefined;

  const runtime = createRuntime(topology, {
    ...options.runtime,
    bus: options.busUrl,
    sessions: { redis: options.sessionsUrl },
    namespace,
    components: unit.components,
    instanceId: instance,
    logger,
    drainTimeoutMs,
    ...(options.registry ? { registry: options.registry } : {}),
    ...(options.projectDir ? { projectDir: options.projectDir } : {}),
    ...(options.telemetry ? { metrics: { ...options.runtime?.metrics, meterProvider: options.telemetry.meterProvider } } : {}),
  });

  let fail: ((reason: string) => void) | undefined;
  const failed = new Promise<string>((resolve) => (fail = resolve));
  const readiness = async (): Promise<{ ready: boolean; reason?: string }> => {
    if (state === 'draining') return { ready: false, reason: 'draining: stopping after SIGTERM' };
    if (runtime.state !== 'running') return { ready: false, reason: `runtime is ${runtime.state}` };
    // The bus's own health, for its detail (which subscription is down, and why).
    const bus = await runtime.bus.health();
    const detail = bus.detail ? `: ${bus.detail}` : '';
    if (bus.failed) {
      const reason = `the ${bus.adapter} bus cannot recover by itself${detail}`;
      fail?.(reason);
      return { ready: false, reason };
    }
    if (!bus.connected) return { ready: false, reason: `not connected to the ${bus.adapter} bus${detail}` };
    if (!bus.ready) return { ready: false, reason: `the ${bus.adapter} bus is not ready${detail}` };
    return { ready: true };
  };

  const server: Server = createServer((request, response) => {
    const route = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') return json(response, 405, { error: `${request.method} is not allowed; use GET` });
    if (route === '/health') return json(response, 200, { status: 'alive', instance, unit: unit.name, state, uptime_s: Math.round((Date.now() - startedAt) / 1000) });
    if (route === '/ready') {
      readiness().then(
        (result) => json(response, result.ready ? 200 : 503, { ready: result.ready, instance, unit: unit.name, ...(result.reason ? { reason: result.reason } : {}) }),
        (error: unknown) => json(response, 503, { ready: false, instance, unit: unit.name, reason: errorMessage(error) }),
      );
      return;
    }
    if (route === '/metrics') {
      if (options.telemetry) return options.telemetry.handleMetricsRequest(request, response);
      return json(response, 404, { error: 'metrics are off in this host (no telemetry was given to startHost)' });
    }
    json(response, 404, { error: `no route ${route}; this host answers /health, /ready and /metrics` });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(
        new WoodworkRuntimeError(
          'WW_RUNTIME_INVALID_ARGUMENT',
          error.code === 'EADDRINUSE'
            ? `port ${options.port ?? 8080} is taken: the host of \`${unit.name}\` cannot serve /health, /ready and /metrics`
            : `the host of \`${unit.name}\` cannot listen on ${options.listenHost ?? '0.0.0.0'}:${options.port ?? 8080}: ${error.message}`,
          // A taken port may be free on the next try (`woodwork up` restarts a host on a fresh one):
          // exit as failed, not as misconfigured, so a supervisor restarts it.
          { cause: error, hint: 'set WOODWORK_PORT to a free port (each host needs its own)', isRetryable: error.code === 'EADDRINUSE' },
        ),
      );
    });
    server.listen(options.port ?? 8080, options.listenHost ?? '0.0.0.0', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const closeServer = () => new Promise<void>((resolve) => server.close(() => resolve()));

  const record = (): Omit<HostRecord, 'heartbeatAt' | 'expiresAt'> => ({
    instance,
    unit: unit.name,
    components: unit.components,
    state,
    pid: process.pid,
    hostname: hostname(),
    port,
    bus: options.busUrl.split(':')[0] ?? 'unknown',
    startedAt,
    stats: runtime.state === 'running' || runtime.state === 'stopping' || runtime.state === 'stopped' ? runtime.stats() : {},
  });

  try {
    await runtime.start();
    if (options.telemetry) registerHostInstruments(options.telemetry.meterProvider, runtime, () => state === 'ready');
    registry = await createRedisHostRegistry({ url: options.sessionsUrl, namespace, ...(options.registryTtlMs ? { ttlMs: options.registryTtlMs } : {}) });
    state = 'ready';
    await registry.put(record());
    const beat = async () => {
      if (state === 'draining' || !registry) return;
      const ready = await readiness().catch(() => ({ ready: false }));
      // stop() may have begun while the readiness check ran.
      if ((state as HostRecord['state']) === 'draining') return;
      state = ready.ready ? 'ready' : 'not-ready';
      await registry.put(record());
    };
    heartbeat = setInterval(() => {
      beat().catch((error: unknown) => logger.warn('registry heartbeat failed; retrying', { error: errorMessage(error) }));
    }, Math.max(250, Math.floor(registry.ttlMs / 3)));
    heartbeat.unref();
  } catch (error) {
    await runtime.stop().catch(() => undefined);
    await registry?.close().catch(() => undefined);
    await closeServer();
    throw error;
  }

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      state = 'draining';
      if (heartbeat) clearInterval(heartbeat);
      await registry?.put(record()).catch(() => undefined);
      try {
        await runtime.stop();
      } finally {
        await registry?.remove(instance).catch(() => undefined);
        await registry?.close().catch(() => undefined);
        await closeServer();
      }
    })());

  return {
    instance,
    unit,
    port,
    runtime,
    readiness,
    failed,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
