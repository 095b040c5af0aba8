/**
 * `runHostProcess`: the whole life of a host process — what the host app (apps/host) calls, and
 * so what `woodwork up` starts per unit and a container runs. It reads the environment (see
 * host-config.ts), loads the topology, starts the host, and on SIGTERM or SIGINT drains and
 * resolves with the exit code:
 *
 * | code | meaning | what a supervisor should do |
 * |---|---|---|
 * | 0 | stopped cleanly after a signal | restart only if it did not ask for the stop |
 * | 1 | failed at run time (broker unreachable, a crash) | restart with backoff |
 * | 78 | configuration error (EX_CONFIG): bad env, bad topology, unknown component | do not restart: it fails the same way again |
 */
import { errorMessage, formatLocation, WoodworkRuntimeError } from '../errors.js';
import { createConsoleLogger } from '../logger.js';
import type { ComponentRegistry } from '../registry.js';
import type { Logger } from '../types.js';
import { distributedUrls, HostEnv, readHostConfig } from './host-config.js';
import { startHost, type HostTelemetry } from './host.js';
import { resolveUnit, loadHostTopology } from './units.js';

export const HostExitCode = { ok: 0, failed: 1, config: 78 } as const;

export interface HostProcessOptions {
  /** Default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /**
   * Starts OpenTelemetry for the process (the app passes `startTelemetry` of @woodwork/metrics/node):
   * called once the unit is known, with the service name `woodwork-<unit>`. Without it `/metrics`
   * answers 404.
   */
  readonly startTelemetry?: (options: { readonly serviceName: string; readonly resourceAttributes: Record<string, string> }) => Promise<HostTelemetry & { shutdown(): Promise<void> }>;
  /** Component implementations. Default: the built-in ones. */
  readonly registry?: ComponentRegistry;
  /** Default: lines on stderr from `WOODWORK_LOG_LEVEL` (default `info`) up. */
  readonly logger?: Logger;
  /** Where errors that stop the process are written. Default `process.stderr`. */
  readonly stderr?: NodeJS.WritableStream;
  /** Resolves to stop the host (the signals do it by default). For tests. */
  readonly stopSignal?: AbortSignal;
}

/** An error as the user should read it: message, place, hint; the stack only for bugs. */
export function describeFailure(error: unknown): string {
  if (WoodworkRuntimeError.isInstance(error)) {
    const problems = error.problems.length > 0 ? error.problems : [error];
    const lines = problems.length > 1 ? [error.message] : [];
    for (const problem of problems) {
      const where = problem.location ? ` (${formatLocation(problem.location)})` : '';
      lines.push(`${problems.length > 1 ? '  - ' : ''}${problem.message}${where}`);
      if (problem.hint) lines.push(`${problems.length > 1 ? '    ' : '  '}hint: ${problem.hint}`);
    }
    if (problems.length > 1 && error.hint) lines.push(`  hint: ${error.hint}`);
    if (!error.userError && error.stack) lines.push(error.stack);
    return lines.join('\n');
  }
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code.startsWith('WW_')) {
    // Another package's error (the bus, the metrics): already written for users.
    const hint = (error as { hint?: unknown }).hint;
    return `${errorMessage(error)}${typeof hint === 'string' ? `\n  hint: ${hint}` : ''}`;
  }
  return error instanceof Error ? (error.stack ?? error.message) : errorMessage(error);
}

function isConfigError(error: unknown): boolean {
  if (WoodworkRuntimeError.isInstance(error)) return error.userError && !error.isRetryable && error.code !== 'WW_RUNTIME_STATE';
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'WW_BUS_UNSUPPORTED_URL' || code === 'WW_BUS_DRIVER_MISSING' || code === 'WW_METRICS_SDK_MISSING';
}

/**
 * Runs a host until SIGTERM or SIGINT, then drains. Resolves with the exit code (the caller exits
 * with it); never rejects.
 */
export async function runHostProcess(options: HostProcessOptions = {}): Promise<number> {
  const env = options.env ?? process.env;
  const stderr = options.stderr ?? process.stderr;
  const fail = (prefix: string, error: unknown) => {
    stderr.write(`[woodwork] error ${prefix}: ${describeFailure(error)}\n`);
    return isConfigError(error) ? HostExitCode.config : HostExitCode.failed;
  };

  let config;
  try {
    config = readHostConfig(env);
  } catch (error) {
    return fail('the host cannot start', error);
  }
  const logger = options.logger ?? createConsoleLogger({ level: config.logLevel, fields: {} });
  const log = logger.child({ component: config.unit });

  let telemetry: Awaited<ReturnType<NonNullable<HostProcessOptions['startTelemetry']>>> | undefined;
  let host: Awaited<ReturnType<typeof startHost>> | undefined;
  const signals = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (signals.signal.aborted) {
      log.warn(`${signal} again while draining; still finishing in-flight work (SIGKILL forces it)`);
      return;
    }
    log.info(`${signal}: stopping — no new work, finishing what is in hand`);
    signals.abort(signal);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  options.stopSignal?.addEventListener('abort', () => signals.abort('stop'), { once: true });
  const stopped = new Promise<void>((resolve) => {
    if (signals.signal.aborted) resolve();
    signals.signal.addEventListener('abort', () => resolve(), { once: true });
  });

  try {
    try {
      const topology = await loadHostTopology(config.topologyFile, env, { unit: config.unit });
      const unit = resolveUnit(topology, config.unit);
      const urls = distributedUrls(
        { busUrl: config.busUrl, sessionsUrl: config.sessionsUrl },
        typeof topology.bus?.url === 'string' ? topology.bus.url : undefined,
        { bus: HostEnv.busUrl, sessions: HostEnv.sessionsUrl, file: config.topologyFile },
      );
      if (options.startTelemetry) {
        telemetry = await options.startTelemetry({
          serviceName: `woodwork-${unit.name}`,
          resourceAttributes: { 'service.namespace': config.namespace, ...(config.instanceId ? { 'service.instance.id': config.instanceId } : {}) },
        });
      }
      if (signals.signal.aborted) return HostExitCode.ok;
      host = await startHost({
        topology,
        unit: config.unit,
        busUrl: urls.busUrl,
        sessionsUrl: urls.sessionsUrl,
        namespace: config.namespace,
        port: config.port,
        listenHost: config.listenHost,
        projectDir: config.projectDir,
        drainTimeoutMs: config.drainTimeoutMs,
        registryTtlMs: config.registryTtlMs,
        logger,
        runtime: { metrics: { events: config.metricsEvents } },
        ...(config.instanceId ? { instanceId: config.instanceId } : {}),
        ...(telemetry ? { telemetry } : {}),
        ...(options.registry ? { registry: options.registry } : {}),
      });
    } catch (error) {
      return fail(`\`${config.unit}\` could not start`, error);
    }
    log.info(`ready: ${host.unit.components.join(', ')} on the ${host.runtime.bus.adapterName} bus (port ${host.port}, instance ${host.instance})`);
    // A signal, or the host failing for good (the bus lost a subscription it cannot get back):
    // then drain like after SIGTERM and exit 1, so the supervisor restarts this process.
    const failure = await Promise.race([stopped.then(() => undefined), host.failed]);
    if (failure !== undefined) log.error(`${failure}; stopping so that this process is restarted`);
    const started = Date.now();
    // The runtime waits `drainTimeoutMs` for open turns; messages in hand get the same again.
    const deadlineMs = 2 * config.drainTimeoutMs;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const outcome = await Promise.race([
        host.stop().then(() => 'stopped' as const),
        new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), deadlineMs))),
      ]);
      if (outcome === 'late') {
        log.warn(`still draining after ${deadlineMs} ms; exiting anyway — unfinished messages go back to the broker for another instance`);
        return HostExitCode.failed;
      }
    } catch (error) {
      return fail(`\`${config.unit}\` did not stop cleanly`, error);
    } finally {
      clearTimeout(timer);
    }
    log.info(`stopped cleanly in ${Date.now() - started} ms`);
    return failure === undefined ? HostExitCode.ok : HostExitCode.failed;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    await telemetry?.shutdown().catch(() => undefined);
  }
}

