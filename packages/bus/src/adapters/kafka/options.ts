/**
 * Settings of the kafka adapter: from the bus URL
 * (`kafka://host:port?clientId=…&partitions=…&brokers=host2:port2,host3:port3`) and from
 * `createBus(url, { adapterOptions })`, which win over the URL. Every default says why.
 */
import type { KafkaConfig } from 'kafkajs';
import { WoodworkBusError } from '../../errors.js';
import { defaultLogSink, type KafkaLogLevel, type KafkaLogSink } from './log.js';

export interface KafkaAdapterOptions {
  /**
   * Bootstrap brokers, `host:port`. Default: the URL's host, plus its `brokers` query parameter
   * (a URL cannot hold several `host:port` authorities, so extra brokers go there).
   */
  readonly brokers?: readonly string[];
  /**
   * Shown in broker logs and quotas. Default `woodwork`. URL: `clientId`. A subscription's consumer
   * uses `<clientId>.consumer.<consumerName>` (how `doReleaseConsumer` finds a dead process's members).
   */
  readonly clientId?: string;
  /**
   * Partitions of topics the adapter creates. Default 6: the most instances of one component
   * that can share a topic's work (a partition has one owner per group), and 6 splits evenly
   * over 1, 2, 3 and 6 instances. Existing topics keep theirs. URL: `partitions`.
   */
  readonly partitions?: number;
  /** Replicas of topics the adapter creates. Default -1: the broker's `default.replication.factor`. URL: `replicationFactor`. */
  readonly replicationFactor?: number;
  /**
   * How long the broker waits for a consumer's heartbeat before it presumes it dead and gives its
   * partitions (and their unacknowledged records) to another member. Default: the subscription's
   * `ackTimeoutMs`, at least 3 000 ms — Kafka's only "this consumer is gone" signal is the
   * session; below ~3 s a busy 2-core machine sees spurious rebalances. The broker bounds it by
   * `group.min.session.timeout.ms` (6 000 by default; the test broker allows 1 000).
   */
  readonly sessionTimeoutMs?: number;
  /**
   * Heartbeat period. Default a third of the session timeout (Kafka's advice), at most 1 000 ms:
   * members learn of a rebalance from a heartbeat, so this bounds how long a joining member
   * waits for the others to notice it; a heartbeat a second per consumer costs nothing.
   */
  readonly heartbeatIntervalMs?: number;
  /**
   * How long the broker waits for every member to rejoin during a rebalance; a member uses it to
   * finish its in-flight records before giving its partitions away. Default
   * max(2 × ackTimeoutMs, 10 000).
   */
  readonly rebalanceTimeoutMs?: number;
  /**
   * Longest a fetch waits on the broker when there is nothing new. Default 500 ms: data is
   * returned at once anyway; this only bounds how long closing a subscription waits for the
   * fetch in progress (kafkajs's 5 000 would make every close take seconds).
   */
  readonly maxWaitTimeMs?: number;
  /**
   * While a batch is being worked on, commit the finished prefix this often, so a crash redelivers
   * little. Default 1 000 ms. The rest is committed when the batch is done.
   */
  readonly commitIntervalMs?: number;
  /**
   * A publish not confirmed by the broker by then rejects with a retryable WW_BUS_PUBLISH_FAILED.
   * The idempotent producer keeps retrying it, so it may still be written: publish again with the
   * same message_id and consumers drop the duplicate. Default 30 000 ms (a broker restart fits).
   */
  readonly publishTimeoutMs?: number;
  /** Most records in one produce request. Default 1 000 (with 256-byte payloads, ~0.6 MB). */
  readonly maxBatchRecords?: number;
  /**
   * Most bytes (record values) in one produce request. Default 900 000: under the broker's
   * 1 MiB `message.max.bytes` for a partition's batch. A bigger single record is sent alone.
   */
  readonly maxBatchBytes?: number;
  /**
   * Records waiting for the producer before `publish` waits for room instead of queueing more —
   * the producer side of backpressure. Default 10 000.
   */
  readonly maxQueuedRecords?: number;
  /** How long `close` waits for in-flight records and publishes. Default 10 000 ms. */
  readonly closeTimeoutMs?: number;
  /**
   * When a record's start in a handler is written (into the commit metadata, which is how a
   * partition's next owner counts attempts; README, *Attempts*). `lazy` (default): within 20 ms
   * after the handler starts, one commit for many records, so the fast path costs nothing; a
   * process killed within those 20 ms of a record's first start leaves it unrecorded, and a poison
   * message that kills its consumer at once runs `maxAttempts` + 1 times. `before-handler`: every
   * start is written before its handler runs (one commit round trip per start, shared by the
   * starts of the same moment), so such a poison runs exactly `maxAttempts` times. URL:
   * `recordStarts`.
   */
  readonly recordStarts?: 'lazy' | 'before-handler';
  /**
   * How long connecting, creating a topic and joining a group keep retrying a broker that does not
   * answer (one restarting, say) before failing with a retryable error. Default 30 000 ms: a
   * broker restart fits; a wrong address still fails within half a minute.
   */
  readonly retryTimeoutMs?: number;
  /**
   * How long `doConnect` (and `createBus`) tries to reach a broker before failing with a
   * WW_BUS_CONNECTION that names the brokers, the time tried and what to check. Default 2 000 ms:
   * a reachable broker answers in milliseconds, and a process started without its broker should say
   * so at once, not after kafkajs's retries (~40 s). Once connected, `retryTimeoutMs` applies.
   * URL: `connectTimeoutMs`.
   */
  readonly connectTimeoutMs?: number;
  /**
   * How long a subscription keeps recreating a consumer that crashed on an error kafkajs does not
   * restart from (after a broker restart: `KafkaJSGroupCoordinatorNotFound`), with backoff from
   * 0.5 s to 10 s, before it gives up: then `onError` gets a non-retryable WW_BUS_CONNECTION and
   * `health()` stays not ready, so the process should exit and be restarted. While it retries,
   * `health()` is not ready either. Default 300 000 ms. URL: `recoveryTimeoutMs`.
   */
  readonly recoveryTimeoutMs?: number;
  /** TCP connect timeout. Default 3 000 ms (kafkajs's 1 000 is tight for a JVM broker under load). */
  readonly connectionTimeoutMs?: number;
  /** Per-request timeout. Default 30 000 ms (kafkajs's default). */
  readonly requestTimeoutMs?: number;
  /**
   * What of kafkajs's own logging is shown. Default `error`: errors stay visible, its
   * informational chatter does not; per-request error responses it retries are never shown
   * below `debug`. URL: `logLevel`.
   */
  readonly logLevel?: KafkaLogLevel;
  /** Where log lines go. Default: one line each on stderr, prefixed `[woodwork:kafka]`. */
  readonly log?: KafkaLogSink;
  /**
   * Escape hatch merged into kafkajs's client config last (TLS, SASL, socket factory, …). Typed
   * `object`, not kafkajs's `KafkaConfig`, so this public type does not make every user of
   * `@woodwork/bus` install kafkajs to type-check.
   */
  readonly kafkaConfig?: object;
}

export interface ResolvedKafkaOptions {
  readonly brokers: readonly string[];
  readonly clientId: string;
  readonly partitions: number;
  readonly replicationFactor: number;
  readonly sessionTimeoutMs: number | undefined;
  readonly heartbeatIntervalMs: number | undefined;
  readonly rebalanceTimeoutMs: number | undefined;
  readonly maxWaitTimeMs: number;
  readonly commitIntervalMs: number;
  readonly publishTimeoutMs: number;
  readonly maxBatchRecords: number;
  readonly maxBatchBytes: number;
  readonly maxQueuedRecords: number;
  readonly closeTimeoutMs: number;
  readonly recordStarts: 'lazy' | 'before-handler';
  readonly retryTimeoutMs: number;
  readonly recoveryTimeoutMs: number;
  readonly connectionTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly logLevel: KafkaLogLevel;
  readonly log: KafkaLogSink;
  readonly kafkaConfig: Partial<KafkaConfig>;
}

const LOG_LEVELS: readonly KafkaLogLevel[] = ['nothing', 'error', 'warn', 'info', 'debug'];

function invalid(message: string): WoodworkBusError {
  return new WoodworkBusError('WW_BUS_INVALID_OPTION', `kafka bus: ${message}`);
}

function integer(name: string, value: unknown, minimum: number): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const number = typeof value === 'string' ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isInteger(number) || number < minimum) {
    throw invalid(`${name} must be an integer >= ${minimum}, got ${JSON.stringify(value)}`);
  }
  return number;
}

function brokerList(value: string): string[] {
  return value
    .split(',')
    .map((broker) => broker.trim())
    .filter((broker) => broker.length > 0);
}

/** Parses the URL and options into complete settings; throws WW_BUS_INVALID_OPTION / WW_BUS_UNSUPPORTED_URL. */
export function resolveKafkaOptions(url: URL, options: Readonly<Record<string, unknown>>): ResolvedKafkaOptions {
  if (url.protocol !== 'kafka:') {
    throw new WoodworkBusError('WW_BUS_UNSUPPORTED_URL', `the kafka adapter needs a kafka:// URL, got ${url.protocol}//`);
  }
  const query = url.searchParams;
  const given = options as KafkaAdapterOptions;

  let brokers: string[];
  if (given.brokers !== undefined) {
    if (!Array.isArray(given.brokers) || given.brokers.some((broker) => typeof broker !== 'string' || broker === '')) {
      throw invalid('brokers must be an array of "host:port" strings');
    }
    brokers = [...given.brokers];
  } else {
    // `kafka://a,b:9093` parses as hostname "a,b": every host without a port gets the URL's port.
    const port = url.port || '9092';
    brokers = url.hostname === '' ? [] : brokerList(url.hostname).map((host) => `${host}:${port}`);
    brokers.push(...brokerList(query.get('brokers') ?? ''));
  }
  if (brokers.length === 0) throw invalid('no broker: use kafka://host:port or the brokers option');

  const logLevel = (given.logLevel ?? query.get('logLevel') ?? 'error') as KafkaLogLevel;
  if (!LOG_LEVELS.includes(logLevel)) throw invalid(`logLevel must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(logLevel)}`);

  const kafkaConfig: Partial<KafkaConfig> = { ...((given.kafkaConfig ?? {}) as Partial<KafkaConfig>) };
  if (url.username && kafkaConfig.sasl === undefined) {
    const mechanism = (query.get('sasl') ?? 'plain') as 'plain' | 'scram-sha-256' | 'scram-sha-512';
    if (!['plain', 'scram-sha-256', 'scram-sha-512'].includes(mechanism)) {
      throw invalid(`sasl must be plain, scram-sha-256 or scram-sha-512, got ${JSON.stringify(mechanism)}`);
    }
    kafkaConfig.sasl = {
      mechanism,
      username: decodeURIComponent(url.username),
      password: decodeURIComponent(url.password),
    } as KafkaConfig['sasl'];
  }
  if (query.get('ssl') === 'true' && kafkaConfig.ssl === undefined) kafkaConfig.ssl = true;

  const clientId = given.clientId ?? query.get('clientId') ?? 'woodwork';
  if (typeof clientId !== 'string' || clientId === '') throw invalid('clientId must be a non-empty string');
  if (given.log !== undefined && typeof given.log !== 'function') throw invalid('log must be a function');

  const recordStarts = given.recordStarts ?? query.get('recordStarts') ?? 'lazy';
  if (recordStarts !== 'lazy' && recordStarts !== 'before-handler') {
    throw invalid(`recordStarts must be lazy or before-handler, got ${JSON.stringify(recordStarts)}`);
  }

  return {
    brokers,
    clientId,
    partitions: integer('partitions', given.partitions ?? query.get('partitions'), 1) ?? 6,
    replicationFactor: integer('replicationFactor', given.replicationFactor ?? query.get('replicationFactor'), -1) ?? -1,
    sessionTimeoutMs: integer('sessionTimeoutMs', given.sessionTimeoutMs, 1),
    heartbeatIntervalMs: integer('heartbeatIntervalMs', given.heartbeatIntervalMs, 1),
    rebalanceTimeoutMs: integer('rebalanceTimeoutMs', given.rebalanceTimeoutMs, 1),
    maxWaitTimeMs: integer('maxWaitTimeMs', given.maxWaitTimeMs, 0) ?? 500,
    commitIntervalMs: integer('commitIntervalMs', given.commitIntervalMs, 0) ?? 1_000,
    publishTimeoutMs: integer('publishTimeoutMs', given.publishTimeoutMs, 1) ?? 30_000,
    maxBatchRecords: integer('maxBatchRecords', given.maxBatchRecords, 1) ?? 1_000,
    maxBatchBytes: integer('maxBatchBytes', given.maxBatchBytes, 1) ?? 900_000,
    maxQueuedRecords: integer('maxQueuedRecords', given.maxQueuedRecords, 1) ?? 10_000,
    closeTimeoutMs: integer('closeTimeoutMs', given.closeTimeoutMs, 0) ?? 10_000,
    recordStarts,
    retryTimeoutMs: integer('retryTimeoutMs', given.retryTimeoutMs, 0) ?? 30_000,
    recoveryTimeoutMs: integer('recoveryTimeoutMs', given.recoveryTimeoutMs ?? query.get('recoveryTimeoutMs') ?? undefined, 0) ?? 300_000,
    connectionTimeoutMs: integer('connectionTimeoutMs', given.connectionTimeoutMs, 1) ?? 3_000,
    connectTimeoutMs: integer('connectTimeoutMs', given.connectTimeoutMs ?? query.get('connectTimeoutMs') ?? undefined, 1) ?? 2_000,
    requestTimeoutMs: integer('requestTimeoutMs', given.requestTimeoutMs, 1) ?? 30_000,
    logLevel,
    log: given.log ?? defaultLogSink,
    kafkaConfig,
  };
}

/** Consumer-group timings for one subscription, from its ackTimeoutMs unless set explicitly. */
export function groupTimings(
  options: ResolvedKafkaOptions,
  ackTimeoutMs: number,
): { sessionTimeoutMs: number; heartbeatIntervalMs: number; rebalanceTimeoutMs: number } {
  const sessionTimeoutMs = options.sessionTimeoutMs ?? Math.max(ackTimeoutMs, 3_000);
  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? Math.max(100, Math.min(1_000, Math.floor(sessionTimeoutMs / 3)));
  const rebalanceTimeoutMs = options.rebalanceTimeoutMs ?? Math.max(2 * ackTimeoutMs, 10_000);
  return { sessionTimeoutMs, heartbeatIntervalMs, rebalanceTimeoutMs };
}
