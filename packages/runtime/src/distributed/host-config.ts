/**
 * The host process's configuration, read from the environment — the same variables whether
 * `woodwork up` starts the process, a container runs it or a user does by hand. Every mistake is
 * reported with the variable's name and what to set it to.
 */
import path from 'node:path';
import { WoodworkRuntimeError } from '../errors.js';
import { isLogLevel, type LogLevel } from '../logger.js';
import { DEFAULT_NAMESPACE, isValidNamespace } from '../topics.js';

/** The environment variables a host reads, with their defaults (README.md lists them too). */
export const HostEnv = {
  /** Path to the `.ww` file or the topology JSON. Required. */
  topology: 'WOODWORK_TOPOLOGY',
  /** The unit to run: a `vm server` group, a component, or a comma-separated list. Required. */
  component: 'WOODWORK_COMPONENT',
  /** The broker. Default: the topology's `bus` declaration. Required one way or the other. */
  busUrl: 'WOODWORK_BUS_URL',
  /** Redis for sessions and the registry. Default: the bus URL when it is Redis. */
  sessionsUrl: 'WOODWORK_SESSIONS_URL',
  /** Topic and key namespace. Default `woodwork`. */
  namespace: 'WOODWORK_NAMESPACE',
  /** Port of `/health`, `/ready`, `/metrics`. Default 8080. */
  port: 'WOODWORK_PORT',
  /** Interface to listen on. Default `0.0.0.0` (reachable from other containers). */
  listenHost: 'WOODWORK_LISTEN_HOST',
  /** Where pipe and hook paths are relative to. Default: the folder of WOODWORK_TOPOLOGY. */
  projectDir: 'WOODWORK_PROJECT_DIR',
  /** The instance's id. Default `<unit>-<hostname>-<pid>-<random>`. */
  instanceId: 'WOODWORK_INSTANCE_ID',
  /**
   * How long SIGTERM waits for the turns this host opened (API gateway requests); messages in hand
   * get as long again, then the host exits anyway. Default 12 000 ms: both fit Kubernetes' 30 s grace.
   */
  drainTimeoutMs: 'WOODWORK_DRAIN_TIMEOUT_MS',
  /** How long a registry record lives without a heartbeat. Default 15 000 ms. */
  registryTtlMs: 'WOODWORK_REGISTRY_TTL_MS',
  /** `debug`, `info` (default), `warn`, `error`, `silent`. */
  logLevel: 'WOODWORK_LOG_LEVEL',
  /** `1` publishes a `metrics.component_performance` event per step on the events topic. Default off. */
  metricsEvents: 'WOODWORK_METRICS_EVENTS',
} as const;

export interface HostConfig {
  readonly topologyFile: string;
  readonly unit: string;
  /** Undefined: take it from the topology's `bus` declaration. */
  readonly busUrl: string | undefined;
  /** Undefined: the bus URL when it is Redis. */
  readonly sessionsUrl: string | undefined;
  readonly namespace: string;
  readonly port: number;
  readonly listenHost: string;
  readonly projectDir: string;
  readonly instanceId: string | undefined;
  readonly drainTimeoutMs: number;
  readonly registryTtlMs: number;
  readonly logLevel: LogLevel;
  readonly metricsEvents: boolean;
}

type Env = Readonly<Record<string, string | undefined>>;

function invalid(variable: string, message: string, hint: string): WoodworkRuntimeError {
  return new WoodworkRuntimeError('WW_RUNTIME_INVALID_ARGUMENT', `${variable} ${message}`, { hint });
}

function integer(env: Env, variable: string, fallback: number, min: number, max: number): number {
  const raw = env[variable];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw invalid(variable, `is ${JSON.stringify(raw)}, which is not a whole number from ${min} to ${max}`, `set ${variable} to a number like ${fallback}, or unset it for the default`);
  }
  return value;
}

/**
 * `WOODWORK_METRICS_EVENTS`: whether components publish `metrics.component_performance` events
 * (`1`/`true` on; unset, empty, `0`/`false` off; anything else is a mistake). Read by the host
 * process and by `woodwork run` and `dev`.
 */
export function metricsEventsEnabled(env: Env): boolean {
  const raw = env[HostEnv.metricsEvents]?.trim().toLowerCase() ?? '';
  if (raw === '1' || raw === 'true') return true;
  if (raw === '' || raw === '0' || raw === 'false') return false;
  throw invalid(HostEnv.metricsEvents, `is ${JSON.stringify(env[HostEnv.metricsEvents])}`, `set ${HostEnv.metricsEvents}=1 to publish metrics events on the bus, or unset it`);
}

/** Reads and checks the host's environment; throws a user error naming the variable at fault. */
export function readHostConfig(env: Env, cwd = process.cwd()): HostConfig {
  const topology = env[HostEnv.topology]?.trim();
  if (!topology) {
    throw invalid(HostEnv.topology, 'is not set: the host does not know which topology to run', `set ${HostEnv.topology} to the path of the .ww file (or its topology JSON)`);
  }
  const unit = env[HostEnv.component]?.trim();
  if (!unit) {
    throw invalid(HostEnv.component, 'is not set: the host does not know which component to run', `set ${HostEnv.component} to a component or \`vm server\` group of ${topology}`);
  }
  const namespace = env[HostEnv.namespace]?.trim() || DEFAULT_NAMESPACE;
  if (!isValidNamespace(namespace)) {
    throw invalid(HostEnv.namespace, `is ${JSON.stringify(namespace)}`, 'use 1-64 letters, digits, "_" or "-", starting with a letter or digit');
  }
  const logLevel = env[HostEnv.logLevel]?.trim() || 'info';
  if (!isLogLevel(logLevel)) {
    throw invalid(HostEnv.logLevel, `is ${JSON.stringify(logLevel)}`, 'use debug, info, warn, error or silent');
  }
  const topologyFile = path.resolve(cwd, topology);
  return {
    topologyFile,
    unit,
    busUrl: env[HostEnv.busUrl]?.trim() || undefined,
    sessionsUrl: env[HostEnv.sessionsUrl]?.trim() || undefined,
    namespace,
    port: integer(env, HostEnv.port, 8080, 0, 65_535),
    listenHost: env[HostEnv.listenHost]?.trim() || '0.0.0.0',
    projectDir: path.resolve(cwd, env[HostEnv.projectDir]?.trim() || path.dirname(topologyFile)),
    instanceId: env[HostEnv.instanceId]?.trim() || undefined,
    drainTimeoutMs: integer(env, HostEnv.drainTimeoutMs, 12_000, 0, 3_600_000),
    registryTtlMs: integer(env, HostEnv.registryTtlMs, 15_000, 1_000, 3_600_000),
    logLevel,
    metricsEvents: metricsEventsEnabled(env),
  };
}

/** True for the bus URLs whose broker is Redis (the session store can share it). */
export function isRedisUrl(url: string): boolean {
  return /^rediss?:\/\//i.test(url);
}

/**
 * The bus and sessions URLs of a distributed run: the explicit ones, else the topology's `bus`
 * declaration; sessions default to the bus when it is Redis. `source` names where each setting
 * came from, for messages (`--bus` for the CLI, `WOODWORK_BUS_URL` for a host).
 */
export function distributedUrls(
  explicit: { readonly busUrl: string | undefined; readonly sessionsUrl: string | undefined },
  declared: string | null | undefined,
  source: { readonly bus: string; readonly sessions: string; readonly file: string },
): { busUrl: string; sessionsUrl: string } {
  const busUrl = explicit.busUrl ?? (typeof declared === 'string' && declared !== '' ? declared : undefined);
  if (busUrl === undefined || /^memory:/i.test(busUrl)) {
    throw new WoodworkRuntimeError(
      'WW_RUNTIME_INVALID_ARGUMENT',
      busUrl === undefined
        ? `no broker to run ${source.file} on: separate processes need a real bus`
        : `the in-memory bus (${busUrl}) cannot connect separate processes`,
      { hint: `give one with ${source.bus}: redis://…, nats://… or kafka://…; or declare one in the file: \`bus = redis { url = "redis://127.0.0.1:6379" }\`` },
    );
  }
  if (!/^(rediss?|nats|kafka):\/\//i.test(busUrl)) {
    throw new WoodworkRuntimeError('WW_RUNTIME_INVALID_ARGUMENT', `${source.bus} is ${JSON.stringify(busUrl)}, which is not a redis://, nats:// or kafka:// URL`, {
      hint: 'for example redis://127.0.0.1:6379, nats://127.0.0.1:4222 or kafka://127.0.0.1:9092',
    });
  }
  const sessionsUrl = explicit.sessionsUrl ?? (isRedisUrl(busUrl) ? busUrl : undefined);
  if (sessionsUrl === undefined) {
    throw new WoodworkRuntimeError('WW_RUNTIME_INVALID_ARGUMENT', `the bus is ${busUrl.split(':')[0]}, and sessions need Redis when components run in separate processes`, {
      hint: `set ${source.sessions} to a Redis URL (redis://127.0.0.1:6379); it also holds the registry \`woodwork status\` reads`,
    });
  }
  if (!isRedisUrl(sessionsUrl)) {
    throw new WoodworkRuntimeError('WW_RUNTIME_INVALID_ARGUMENT', `${source.sessions} is ${JSON.stringify(sessionsUrl)}, which is not a redis:// URL`, {
      hint: 'sessions and the registry live in Redis: redis://host:port',
    });
  }
  return { busUrl, sessionsUrl };
}
