/**
 * Options of the NATS adapter: from `createBus(url, { adapterOptions })` and from the URL's query
 * (`nats://127.0.0.1:4222?partitions=16&leaseTtlMs=5000`), so a child process that only gets
 * `WOODWORK_BUS_URL` runs with the same settings. Explicit adapterOptions win over the query.
 * Every default is explained in README.md; the short reason is beside each field here.
 */
import type { NodeConnectionOptions } from '@nats-io/transport-node';
import { WoodworkBusError } from '../../errors.js';
import { DEFAULT_PREFIX } from './names.js';

export interface NatsAdapterOptions {
  /**
   * Partitions per topic: sessions are hashed onto them, and within a group each partition is
   * owned by one member at a time. It caps a group's parallel members and is fixed when the
   * topic's stream is first created (later subscribers read it from the stream). Default 8.
   */
  readonly partitions?: number;
  /** Subject prefix and stream-name prefix (upper-cased). Default `ww`. */
  readonly prefix?: string;
  /** JetStream storage of topic streams. Default `file`: records survive a broker restart. */
  readonly storage?: 'file' | 'memory';
  /** Stream replicas (clustered NATS only). Default 1. */
  readonly replicas?: number;
  /** Server-side dedup window for `Nats-Msg-Id`. Default 120 000 ms (the NATS default). */
  readonly duplicateWindowMs?: number;
  /** Drop records older than this. Default 0 = keep: replay and new groups read the log. */
  readonly maxAgeMs?: number;
  /** Cap of a topic stream in bytes, oldest dropped first. Default -1 = unlimited. */
  readonly maxBytes?: number;
  /** How often a member renews its partition leases. Default 1 000 ms. */
  readonly heartbeatMs?: number;
  /**
   * How long a silent member keeps its partitions before the others take them over. Default
   * 5 000 ms — five missed heartbeats, the same as the subscriptions' default `leaseMs`: a
   * crashed member's partitions move in about that time, while a GC pause or a busy machine does
   * not look like a crash. (10 000 before leases followed the handler.)
   */
  readonly leaseTtlMs?: number;
  /** Lifetime of one JetStream pull request (long poll). Default 5 000 ms. */
  readonly pullExpiresMs?: number;
  /** Timeout of one JetStream API call, PubAck or ack confirmation before it is re-sent. Default 5 000 ms. */
  readonly requestTimeoutMs?: number;
  /**
   * How long a publish may keep retrying (across reconnects) before it rejects with a retryable
   * error. Default 30 000 ms: rides out a broker restart without the caller noticing.
   */
  readonly publishTimeoutMs?: number;
  /** Publishes sent and not yet acknowledged by JetStream; more wait. Default 1 024. */
  readonly maxPendingPublishes?: number;
  /**
   * How long `doConnect` waits for the first connection, then fails naming the address and what to
   * check. Default 2 000 ms: a reachable server answers in milliseconds; a process started without
   * its broker should say so at once.
   */
  readonly connectTimeoutMs?: number;
  /** Pause between reconnect attempts. Default 250 ms (the client's own is 2 s). */
  readonly reconnectTimeWaitMs?: number;
  /** Servers to connect to, overriding the URL's host (for clusters): `a:4222,b:4222`. */
  readonly servers?: string | readonly string[];
  /** Connection name shown by the server (`nats server report connections`). Default `woodwork-bus`. */
  readonly name?: string;
  /**
   * Passed to the NATS client's `connect()` as is (TLS, credentials, …); the adapter's own settings
   * win. Typed `object`, not the client's `NodeConnectionOptions`, so this public type does not
   * make every user of `@woodwork/bus` install `@nats-io/transport-node` to type-check.
   */
  readonly connectionOptions?: object;
}

export interface ResolvedNatsOptions {
  readonly partitions: number;
  readonly prefix: string;
  readonly storage: 'file' | 'memory';
  readonly replicas: number;
  readonly duplicateWindowMs: number;
  readonly maxAgeMs: number;
  readonly maxBytes: number;
  readonly heartbeatMs: number;
  readonly leaseTtlMs: number;
  readonly pullExpiresMs: number;
  readonly requestTimeoutMs: number;
  readonly publishTimeoutMs: number;
  readonly maxPendingPublishes: number;
  readonly connectTimeoutMs: number;
  readonly reconnectTimeWaitMs: number;
  readonly servers: string[];
  readonly name: string;
  readonly user?: string;
  readonly pass?: string;
  readonly token?: string;
  readonly connectionOptions: Partial<NodeConnectionOptions>;
}

export const DEFAULT_NATS_OPTIONS = {
  partitions: 8,
  prefix: DEFAULT_PREFIX,
  storage: 'file',
  replicas: 1,
  duplicateWindowMs: 120_000,
  maxAgeMs: 0,
  maxBytes: -1,
  heartbeatMs: 1_000,
  leaseTtlMs: 5_000,
  pullExpiresMs: 5_000,
  requestTimeoutMs: 5_000,
  publishTimeoutMs: 30_000,
  maxPendingPublishes: 1_024,
  connectTimeoutMs: 2_000,
  reconnectTimeWaitMs: 250,
  name: 'woodwork-bus',
} as const;

const NUMERIC = [
  'partitions',
  'replicas',
  'duplicateWindowMs',
  'maxAgeMs',
  'maxBytes',
  'heartbeatMs',
  'leaseTtlMs',
  'pullExpiresMs',
  'requestTimeoutMs',
  'publishTimeoutMs',
  'maxPendingPublishes',
  'connectTimeoutMs',
  'reconnectTimeWaitMs',
] as const;

function invalid(name: string, expected: string, value: unknown): never {
  throw new WoodworkBusError('WW_BUS_INVALID_OPTION', `nats adapter option ${name} must be ${expected}; got ${String(value)}`);
}

function integer(name: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  const number = typeof value === 'string' ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isInteger(number) || number < min) invalid(name, `an integer >= ${min}`, value);
  return number;
}

export function resolveNatsOptions(url: URL, given: Readonly<Record<string, unknown>>): ResolvedNatsOptions {
  const fromQuery: Record<string, unknown> = {};
  for (const [name, value] of url.searchParams) fromQuery[name] = value;
  const merged: Record<string, unknown> = { ...fromQuery, ...given };

  const numbers = {} as Record<(typeof NUMERIC)[number], number>;
  for (const name of NUMERIC) {
    const min = name === 'maxBytes' ? -1 : name === 'maxAgeMs' ? 0 : 1;
    numbers[name] = integer(name, merged[name], DEFAULT_NATS_OPTIONS[name], min);
  }
  if (numbers.leaseTtlMs < 2 * numbers.heartbeatMs) {
    invalid('leaseTtlMs', `at least twice heartbeatMs (${numbers.heartbeatMs})`, numbers.leaseTtlMs);
  }
  const prefix = merged.prefix ?? DEFAULT_NATS_OPTIONS.prefix;
  if (typeof prefix !== 'string' || !/^[A-Za-z0-9-]{1,32}$/.test(prefix)) invalid('prefix', '1-32 of [A-Za-z0-9-]', prefix);
  const storage = merged.storage ?? DEFAULT_NATS_OPTIONS.storage;
  if (storage !== 'file' && storage !== 'memory') invalid('storage', '"file" or "memory"', storage);
  const name = merged.name ?? DEFAULT_NATS_OPTIONS.name;
  if (typeof name !== 'string') invalid('name', 'a string', name);

  let servers: string[];
  const rawServers = merged.servers;
  if (rawServers === undefined) {
    servers = [`${url.hostname || '127.0.0.1'}:${url.port || '4222'}`];
  } else if (typeof rawServers === 'string') {
    servers = rawServers.split(',').map((server) => server.trim()).filter(Boolean);
  } else if (Array.isArray(rawServers) && rawServers.every((server) => typeof server === 'string')) {
    servers = [...(rawServers as string[])];
  } else {
    invalid('servers', 'a string or an array of strings', rawServers);
  }
  if (servers.length === 0) invalid('servers', 'at least one server', rawServers);

  const connectionOptions = (merged.connectionOptions ?? {}) as Partial<NodeConnectionOptions>;
  if (typeof connectionOptions !== 'object' || connectionOptions === null) {
    invalid('connectionOptions', 'an object', connectionOptions);
  }

  // nats://user:pass@host → user/password; nats://token@host → token.
  const user = url.username ? decodeURIComponent(url.username) : undefined;
  const pass = url.password ? decodeURIComponent(url.password) : undefined;
  return {
    ...numbers,
    prefix,
    storage,
    name,
    servers,
    connectionOptions,
    ...(user !== undefined && pass !== undefined ? { user, pass } : {}),
    ...(user !== undefined && pass === undefined ? { token: user } : {}),
  };
}
