/**
 * The kafka bus adapter (BusAdapterV1) on kafkajs 2: one idempotent producer and one admin client
 * per adapter, one consumer per subscription, one throwaway consumer per replay. kafkajs is an
 * optional peer dependency, imported on first connect.
 */
import { createConnection } from 'node:net';
import type { Admin, Kafka, KafkaConfig, PartitionMetadata, Producer } from 'kafkajs';
import type {
  AdapterReplayRequest,
  AdapterSubscribeRequest,
  AdapterSubscription,
  BusAdapterV1,
  BusCapabilities,
  BusHealth,
  ReplayedRecord,
  WireRecord,
} from '../../adapter.js';
import { WoodworkBusError } from '../../errors.js';
import { createLogCreator, KAFKAJS_LEVEL } from './log.js';
import { resolveKafkaOptions, type ResolvedKafkaOptions } from './options.js';
import { KafkaPublisher } from './publisher.js';
import { replayTopic } from './replay.js';
import { KAFKAJS_RETRY, retryFor, TIMED_OUT, withTimeout } from './retry.js';
import { BUSY_STICKY_ASSIGNER, consumerClientId, kafkaGroupId, KafkaSubscription } from './subscription.js';
import { kafkaTopicName } from './topic-name.js';

type KafkaJs = typeof import('kafkajs');

export const KAFKA_CAPABILITIES: BusCapabilities = Object.freeze({
  persistent: true,
  replay: true,
  // Kafka counts nothing per record: hand-outs are recorded in the offset commits' metadata.
  deliveryCount: true,
  // The idempotent producer drops its own retried batches, not a republished message_id.
  publishDeduplication: false,
  crossProcess: true,
  leaseRenewal: true,
});

/** Imports kafkajs (CommonJS: its exports may sit on `default`); `importer` is for tests. */
export async function loadKafkaJs(importer: () => Promise<unknown> = () => import('kafkajs')): Promise<KafkaJs> {
  try {
    const loaded = (await importer()) as KafkaJs & { default?: KafkaJs };
    return loaded.Kafka ? loaded : (loaded.default as KafkaJs);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new WoodworkBusError('WW_BUS_DRIVER_MISSING', 'install kafkajs to use the kafka bus (npm install kafkajs@^2)', { cause: error });
    }
    throw error;
  }
}

/** How long a first connection may take when a broker accepts TCP but is slow to answer. */
const SLOW_BROKER_MS = 10_000;

/** Whether any of `brokers` accepts a TCP connection within `timeoutMs`. */
function anyListening(brokers: readonly string[], timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    let left = brokers.length;
    if (left === 0) resolve(false);
    for (const broker of brokers) {
      const separator = broker.lastIndexOf(':');
      const socket = createConnection({ host: broker.slice(0, separator), port: Number(broker.slice(separator + 1)) });
      const done = (accepted: boolean) => {
        socket.destroy();
        if (accepted) resolve(true);
        else if (--left === 0) resolve(false);
      };
      socket.setTimeout(timeoutMs, () => done(false));
      socket.once('connect', () => done(true));
      socket.once('error', () => done(false));
    }
  });
}


/** The part of kafkajs's internal Cluster used for group requests it has no public API for. */
interface GroupCluster {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  findGroupCoordinator(request: { groupId: string }): Promise<{ leaveGroup(request: { groupId: string; memberId: string }): Promise<unknown> }>;
}

interface Connection {
  /** A new kafkajs client; `clientId` replaces the configured one (a subscription's, see `consumerClientId`). */
  readonly createClient: (clientId?: string) => Kafka;
  readonly admin: Admin;
  readonly producer: Producer;
  readonly publisher: KafkaPublisher;
  readonly partitioner: ReturnType<KafkaJs['Partitioners']['DefaultPartitioner']>;
  readonly kafkajs: KafkaJs;
}

export class KafkaAdapter implements BusAdapterV1 {
  readonly specificationVersion = 'v1' as const;
  readonly adapterName = 'kafka';
  readonly capabilities = KAFKA_CAPABILITIES;
  readonly options: ResolvedKafkaOptions;
  #connecting: Promise<Connection> | undefined;
  #connection: Connection | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;
  readonly #topics = new Map<string, Promise<void>>();
  readonly #subscriptions = new Set<KafkaSubscription>();
  /** kafkajs's internal cluster, for LeaveGroup on behalf of a dead member (`doReleaseConsumer`). */
  #clusterForGroups: Promise<GroupCluster | undefined> | undefined;
  /** Replay consumers still leaving their throwaway groups. */
  readonly #cleanups = new Set<Promise<void>>();

  constructor(url: URL, options: Readonly<Record<string, unknown>> = {}) {
    this.options = resolveKafkaOptions(url, options);
  }

  async doConnect(): Promise<void> {
    await this.#connect();
  }

  async doPublish(topic: string, records: readonly WireRecord[]): Promise<void> {
    const connection = await this.#connect();
    const name = kafkaTopicName(topic);
    try {
      await this.#ensureTopic(connection, name);
    } catch (error) {
      throw new WoodworkBusError('WW_BUS_PUBLISH_FAILED', `kafka bus: topic "${name}" is not available: ${(error as Error).message}`, {
        cause: error,
        isRetryable: true,
      });
    }
    await connection.publisher.publish(name, records);
  }

  async doSubscribe(request: AdapterSubscribeRequest): Promise<AdapterSubscription> {
    const connection = await this.#connect();
    const name = kafkaTopicName(request.topic);
    try {
      await this.#ensureTopic(connection, name);
    } catch (error) {
      throw new WoodworkBusError('WW_BUS_CONNECTION', `kafka bus: topic "${name}" is not available: ${(error as Error).message}`, {
        cause: error,
        isRetryable: true,
      });
    }
    const subscription = new KafkaSubscription(name, request, {
      createClient: connection.createClient,
      admin: connection.admin,
      options: this.options,
      log: this.options.log,
      assignerProtocol: connection.kafkajs.AssignerProtocol,
      roundRobin: connection.kafkajs.PartitionAssigners.roundRobin,
      onStopped: (stopped) => this.#subscriptions.delete(stopped),
    });
    this.#subscriptions.add(subscription);
    try {
      await subscription.start();
    } catch (error) {
      this.#subscriptions.delete(subscription);
      throw error;
    }
    return subscription;
  }

  async *doReplay(request: AdapterReplayRequest): AsyncIterable<ReplayedRecord> {
    const connection = await this.#connect();
    yield* replayTopic(
      {
        createClient: connection.createClient,
        admin: connection.admin,
        options: this.options,
        log: this.options.log,
        partitionFor: (key, partitionCount) => this.#partitionFor(connection, key, partitionCount),
        track: (cleanup) => {
          this.#cleanups.add(cleanup);
          void cleanup.finally(() => this.#cleanups.delete(cleanup));
        },
      },
      kafkaTopicName(request.topic),
      request,
    );
  }

  /**
   * Per partition: the log's end minus the group's committed offset (its start of the log when it
   * committed nothing yet). Records are committed after handling, every `commitIntervalMs`, so a
   * handled record counts until then. Looks only: a topic that does not exist is not created
   * (metadata requests would auto-create it with the broker's partition count), and a group that
   * never joined counts 0.
   */
  async doQueueDepth(topic: string, group: string): Promise<number> {
    const connection = await this.#connect();
    const name = kafkaTopicName(topic);
    // A topic this adapter made sure of (a host's own inbox) exists; others are looked up.
    if (!this.#topics.has(name) && !(await connection.admin.listTopics()).includes(name)) return 0;
    const groupId = kafkaGroupId(name, group);
    const [ends, [committed]] = await Promise.all([
      connection.admin.fetchTopicOffsets(name),
      connection.admin.fetchOffsets({ groupId, topics: [name] }),
    ]);
    const offsets = new Map((committed?.partitions ?? []).map((entry) => [entry.partition, entry.offset]));
    if ([...offsets.values()].every((offset) => offset === '-1')) {
      const { groups } = await connection.admin.describeGroups([groupId]);
      if (groups.every((described) => described.state === 'Dead')) return 0;
    }
    let depth = 0n;
    for (const end of ends) {
      const offset = offsets.get(end.partition) ?? '-1';
      const from = offset === '-1' ? BigInt(end.low) : BigInt(offset);
      const lag = BigInt(end.high) - from;
      if (lag > 0n) depth += lag;
    }
    return Number(depth);
  }

  /**
   * v1.4 `doReleaseConsumer`: a supervisor saw the process of member `consumer` (its consumerName,
   * or a `<hostname>-<pid>` prefix of it) die. Kafka would notice only when the member's session
   * times out (`sessionTimeoutMs`, then a rebalance); this removes it from the group now, so the
   * rebalance starts at once. kafkajs has no API for it (no static membership, so no admin
   * `removeMembers`): every member writes its consumerName into its join metadata (the busy-sticky
   * assigner's user data) and its client id (`<clientId>.consumer.<consumerName>`, since a group in
   * a rebalance describes no join metadata), `describeGroups` finds the dead one's member id, and a LeaveGroup
   * request naming that member id is sent to the group's coordinator — what the member itself would
   * have sent had it closed — through kafkajs's cluster (an internal of kafkajs 2, whose API has
   * not changed since 2022; without it, this releases nothing and the session timeout applies).
   * Resolves to the partitions the removed members owned.
   */
  async doReleaseConsumer(topic: string, group: string, consumer: string): Promise<number> {
    const connection = await this.#connect();
    const name = kafkaTopicName(topic);
    const groupId = kafkaGroupId(name, group);
    const { groups } = await connection.admin.describeGroups([groupId]);
    const { AssignerProtocol } = connection.kafkajs;
    const matches = (candidate: unknown) => typeof candidate === 'string' && (candidate === consumer || candidate.startsWith(`${consumer}-`));
    const clientPrefix = consumerClientId(this.options.clientId, '');
    const dead: { memberId: string; partitions: number }[] = [];
    for (const described of groups) {
      for (const member of described.members) {
        // A stable group describes its members' join metadata, where ours name their consumer; a
        // group in a rebalance describes only member and client ids, and ours carry it in the latter.
        let owner: unknown = member.clientId.startsWith(clientPrefix) ? member.clientId.slice(clientPrefix.length) : undefined;
        if (!matches(owner) && described.protocol === BUSY_STICKY_ASSIGNER) {
          try {
            const userData = AssignerProtocol.MemberMetadata.decode(member.memberMetadata)?.userData;
            owner = (JSON.parse(userData?.toString() || '{}') as { consumer?: unknown }).consumer;
          } catch {
            continue;
          }
        }
        if (!matches(owner)) continue;
        let partitions = 0;
        try {
          const assignment = AssignerProtocol.MemberAssignment.decode(member.memberAssignment)?.assignment ?? {};
          for (const owned of Object.values(assignment)) partitions += owned.length;
        } catch {
          // counted as 0
        }
        dead.push({ memberId: member.memberId, partitions });
      }
    }
    if (dead.length === 0) return 0;
    const cluster = await this.#groupCluster(connection);
    if (cluster === undefined) {
      this.options.log({ level: 'warn', namespace: 'Adapter', message: 'releaseConsumer: this kafkajs has no cluster to send LeaveGroup through; the member leaves when its session times out', extra: {} });
      return 0;
    }
    let released = 0;
    for (const { memberId, partitions } of dead) {
      try {
        const coordinator = await cluster.findGroupCoordinator({ groupId });
        await coordinator.leaveGroup({ groupId, memberId });
        released += partitions;
      } catch (error) {
        // Already gone (its session expired meanwhile): nothing left to release.
        if ((error as { type?: string }).type !== 'UNKNOWN_MEMBER_ID') throw error;
      }
    }
    return released;
  }

  /** A kafkajs cluster (its internal client of brokers) for group requests kafkajs has no API for. */
  #groupCluster(connection: Connection): Promise<GroupCluster | undefined> {
    this.#clusterForGroups ??= (async () => {
      const client = connection.createClient() as unknown as Record<symbol, unknown>;
      const create = Object.getOwnPropertySymbols(client).find((symbol) => symbol.description === 'private:Kafka:createCluster');
      if (create === undefined || typeof client[create] !== 'function') return undefined;
      const cluster = (client[create] as (options: object) => GroupCluster)({ allowAutoTopicCreation: false });
      await cluster.connect();
      return cluster;
    })().catch((error: unknown) => {
      this.#clusterForGroups = undefined;
      throw error;
    });
    return this.#clusterForGroups;
  }

  async doHealth(): Promise<BusHealth> {
    const connection = this.#connection;
    if (this.#closed || !connection) {
      return { connected: false, ready: false, adapter: 'kafka', detail: this.#closed ? 'closed' : 'not connected' };
    }
    // Connected is not enough: a subscription whose consumer crashed receives nothing until it
    // runs again (spec v1.5: not ready while a subscription cannot consume; failed once it never will).
    const subscriptions = [...this.#subscriptions];
    const down = subscriptions.map((subscription) => subscription.down).filter((reason) => reason !== undefined);
    if (subscriptions.some((subscription) => subscription.failed)) {
      return { connected: false, ready: false, failed: true, adapter: 'kafka', detail: down.join('; ') };
    }
    try {
      // kafkajs would retry for many seconds against a dead broker; health must answer now.
      const cluster = await withTimeout(connection.admin.describeCluster(), 2_000);
      if (cluster === TIMED_OUT) return { connected: false, ready: false, adapter: 'kafka', detail: 'the broker did not answer within 2 s' };
      if (down.length > 0) return { connected: true, ready: false, adapter: 'kafka', detail: down.join('; ') };
      return { connected: true, ready: true, adapter: 'kafka', detail: `${cluster.brokers.length} broker(s), controller ${cluster.controller}` };
    } catch (error) {
      return { connected: false, ready: false, adapter: 'kafka', detail: (error as Error).message };
    }
  }

  doClose(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    const connection = this.#connection ?? (await this.#connecting?.catch(() => undefined));
    const subscriptions = [...this.#subscriptions];
    await Promise.all(subscriptions.map((subscription) => subscription.close().catch(() => {})));
    const left = await withTimeout(
      Promise.all([...subscriptions.map((subscription) => subscription.stopped), ...this.#cleanups]),
      this.options.closeTimeoutMs,
    );
    if (left === TIMED_OUT) {
      this.options.log({ level: 'warn', namespace: 'Adapter', message: 'closed before every consumer had left its group', extra: {} });
    }
    if (!connection) return;
    await connection.publisher.close(this.options.closeTimeoutMs);
    const groupCluster = await this.#clusterForGroups?.catch(() => undefined);
    await Promise.allSettled([connection.publisher.producer.disconnect(), connection.admin.disconnect(), groupCluster?.disconnect()]);
  }

  #connect(): Promise<Connection> {
    if (this.#closed) return Promise.reject(new WoodworkBusError('WW_BUS_CLOSED', 'kafka bus is closed'));
    this.#connecting ??= this.#open().then(
      (connection) => {
        this.#connection = connection;
        return connection;
      },
      (error: unknown) => {
        this.#connecting = undefined;
        throw error;
      },
    );
    return this.#connecting;
  }

  async #open(): Promise<Connection> {
    const kafkajs = await loadKafkaJs();
    const options = this.options;
    const config: KafkaConfig = {
      clientId: options.clientId,
      brokers: [...options.brokers],
      connectionTimeout: options.connectionTimeoutMs,
      requestTimeout: options.requestTimeoutMs,
      logLevel: KAFKAJS_LEVEL[options.logLevel],
      logCreator: createLogCreator(options.logLevel, options.log),
      retry: { ...KAFKAJS_RETRY },
      ...options.kafkaConfig,
    };
    // Each consumer gets its own client: kafkajs caches committed offsets per group id in a
    // client, and two members of one group sharing a client would clear each other's cache.
    const createClient = (clientId?: string) => new kafkajs.Kafka(clientId === undefined ? config : { ...config, clientId });
    const client = createClient();
    const admin = client.admin();
    const newProducer = () =>
      client.producer({
        // Idempotent: a batch retried after a lost response is written once, and in order.
        idempotent: true,
        maxInFlightRequests: 1,
        createPartitioner: kafkajs.Partitioners.DefaultPartitioner,
        allowAutoTopicCreation: false,
        // An idempotent producer must never give up on a batch it may have written (a later batch
        // would reuse its sequence numbers); `publishTimeoutMs` bounds what the caller waits.
        retry: { initialRetryTime: 100, maxRetryTime: 1_000, retries: Number.MAX_SAFE_INTEGER },
      });
    const producer = newProducer();
    const started = Date.now();
    let lastError: unknown;
    // kafkajs retries a connect by itself for ~15 s per call (logging each try, and without saying
    // whether anything listens); the first connect gets connectTimeoutMs when no broker accepts a
    // TCP connection, so an unreachable broker is reported at once, and up to SLOW_BROKER_MS when
    // one does but is slow to answer (a loaded machine).
    const listening = anyListening(options.brokers, options.connectTimeoutMs);
    const connecting = retryFor(SLOW_BROKER_MS, async () => {
      try {
        await admin.connect();
        await producer.connect();
      } catch (error) {
        lastError = error;
        throw error;
      }
    }).then(
      () => true,
      (error: unknown) => {
        lastError = error;
        return false;
      },
    );
    let connected = await withTimeout(connecting, options.connectTimeoutMs);
    if (connected === TIMED_OUT && (await listening)) {
      connected = await withTimeout(connecting, Math.max(0, started + SLOW_BROKER_MS - Date.now()));
    }
    if (connected !== true) {
      await Promise.allSettled([admin.disconnect(), producer.disconnect()]);
      const reason = !(await listening)
        ? 'no broker accepts a TCP connection there'
        : lastError === undefined
          ? 'no answer'
          : (lastError as Error).message;
      throw new WoodworkBusError(
        'WW_BUS_CONNECTION',
        `could not connect to kafka at ${options.brokers.join(', ')}: tried for ${Date.now() - started} ms, last error: ${reason}. ` +
          'Check that the broker is running and that its advertised listener is reachable from here ' +
          '(Apache Kafka\'s quickstart starts one: https://kafka.apache.org/quickstart; in the Woodwork repository: `bash tools/services.sh start kafka`), and the URL\'s ssl/sasl settings; raise connectTimeoutMs to wait longer.',
        { cause: lastError, isRetryable: true },
      );
    }
    const publisher = new KafkaPublisher(producer, options, async () => {
      const replacement = newProducer();
      await replacement.connect();
      return replacement;
    });
    return { createClient, admin, producer, publisher, partitioner: kafkajs.Partitioners.DefaultPartitioner(), kafkajs };
  }

  /** Creates the topic with the configured partitions unless it exists; remembered per adapter. */
  #ensureTopic(connection: Connection, name: string): Promise<void> {
    let ensured = this.#topics.get(name);
    if (!ensured) {
      ensured = retryFor(this.options.retryTimeoutMs, () =>
        connection.admin.createTopics({
          topics: [{ topic: name, numPartitions: this.options.partitions, replicationFactor: this.options.replicationFactor }],
          waitForLeaders: true,
        }),
      ).then(
        () => undefined,
        (error: unknown) => {
          this.#topics.delete(name);
          throw error;
        },
      );
      this.#topics.set(name, ensured);
    }
    return ensured;
  }

  #partitionFor(connection: Connection, key: string, partitionCount: number): number {
    const partitionMetadata = Array.from(
      { length: partitionCount },
      (_, partitionId): PartitionMetadata => ({ partitionErrorCode: 0, partitionId, leader: 0, replicas: [0], isr: [0] }),
    );
    return connection.partitioner({ topic: '', partitionMetadata, message: { key, value: null } });
  }
}

/** `BusAdapterFactory` for `kafka://` URLs. */
export function createKafkaAdapter(url: URL, options: Readonly<Record<string, unknown>> = {}): KafkaAdapter {
  return new KafkaAdapter(url, options);
}
