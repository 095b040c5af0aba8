/**
 * The NATS JetStream adapter (BusAdapterV1): one stream per topic, sessions hashed onto
 * partitions, one durable pull consumer per (group, partition), partition leases in a KV bucket.
 * README.md beside this file has the design, the capability table and every option.
 */
import type { JetStreamClient, JetStreamManager, StreamConfig, StreamInfo } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
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
import { AckConfirmer } from './acker.js';
import { loadNatsDriver } from './driver.js';
import type { NatsDriver } from './driver.js';
import { consumerName, KEY_HEADER, keyToken, recordSubject, topicNames } from './names.js';
import { resolveNatsOptions } from './options.js';
import type { ResolvedNatsOptions } from './options.js';
import { OrderedPublisher } from './publisher.js';
import { readStream } from './read-stream.js';
import { releaseMember } from './release.js';
import { retrying } from './retry.js';
import { NatsSubscription } from './subscription.js';
import type { SubscriptionContext, TopicStream } from './subscription.js';
import { MSG_ID_HEADER, nanos, toWireRecord } from './wire.js';

const STREAM_NOT_FOUND = 10059;
const CONSUMER_NOT_FOUND = 10014;
const STREAM_NAME_IN_USE = 10058;
/** nats-server 2.9 answers a second `streams.add` racing the first with this instead of "name in use". */
const SUBJECTS_OVERLAP = 10065;

interface Connected {
  readonly driver: NatsDriver;
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly publisher: OrderedPublisher;
  readonly acker: AckConfirmer;
  readonly context: SubscriptionContext;
}

/** Reads the partition count a stream was created with (kept in its description). */
export function partitionsOf(info: StreamInfo): number | undefined {
  const match = /partitions=(\d+)/.exec(info.config.description ?? '');
  return match ? Number(match[1]) : undefined;
}

/** How long a first connection may take when a server answers but slowly (not when nothing listens). */
const SLOW_SERVER_MS = 10_000;

/** Nothing listens there (or the name does not resolve): no point waiting longer than connectTimeoutMs. */
function isRefusal(error: unknown): boolean {
  const text = `${String((error as { code?: unknown } | null)?.code ?? '')} ${String((error as Error | undefined)?.message ?? error)}`;
  return /ECONNREFUSED|connection refused|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH/i.test(text);
}

function connectionError(message: string, cause: unknown): WoodworkBusError {
  return new WoodworkBusError('WW_BUS_CONNECTION', message, { cause, isRetryable: true });
}

export class NatsAdapter implements BusAdapterV1 {
  readonly specificationVersion = 'v1' as const;
  readonly adapterName = 'nats';
  readonly capabilities: BusCapabilities;
  readonly options: ResolvedNatsOptions;
  private connected: Connected | undefined;
  private connecting: Promise<Connected> | undefined;
  private online = false;
  private closing: Promise<void> | undefined;
  private readonly streams = new Map<string, Promise<TopicStream>>();
  private readonly topicsByToken = new Map<string, string>();
  private readonly subscriptions = new Set<NatsSubscription>();
  private readonly lastReensure = new Map<string, number>();

  constructor(url: URL, options: Readonly<Record<string, unknown>>) {
    this.options = resolveNatsOptions(url, options);
    this.capabilities = {
      persistent: this.options.storage === 'file',
      replay: true,
      deliveryCount: true,
      publishDeduplication: true,
      crossProcess: true,
      leaseRenewal: true,
    };
  }

  async doConnect(): Promise<void> {
    await this.connection();
  }

  private connection(): Promise<Connected> {
    if (this.closing) return Promise.reject(new WoodworkBusError('WW_BUS_CLOSED', 'the nats bus is closed'));
    if (this.connected) return Promise.resolve(this.connected);
    this.connecting ??= this.connect().catch((error: unknown) => {
      this.connecting = undefined;
      throw error;
    });
    return this.connecting;
  }

  private async connect(): Promise<Connected> {
    const driver = await loadNatsDriver();
    const options = this.options;
    const where = options.servers.join(',');
    // Retry the first connect ourselves until connectTimeoutMs (the client's waitOnFirstConnect
    // has no deadline and cannot be cancelled); after that the client reconnects forever.
    const started = Date.now();
    let deadline = started + options.connectTimeoutMs;
    let nc: NatsConnection | undefined;
    let lastError: unknown;
    let attempts = 0;
    while (nc === undefined) {
      attempts++;
      try {
        nc = await driver.transport.connect({
          ...options.connectionOptions,
          servers: options.servers,
          name: options.name,
          maxReconnectAttempts: -1,
          reconnectTimeWait: options.reconnectTimeWaitMs,
          reconnectJitter: Math.min(100, options.reconnectTimeWaitMs),
          timeout: Math.max(500, Math.min(options.requestTimeoutMs, deadline - Date.now())),
          ...(options.user === undefined ? {} : { user: options.user, pass: options.pass }),
          ...(options.token === undefined ? {} : { token: options.token }),
        });
      } catch (error) {
        lastError = error;
        // Nothing listening is reported after connectTimeoutMs; a server that is there but slow to
        // answer (a loaded machine) gets up to SLOW_SERVER_MS before we give up on it.
        if (!isRefusal(error)) deadline = Math.max(deadline, started + SLOW_SERVER_MS);
        if (Date.now() + options.reconnectTimeWaitMs >= deadline) {
          throw connectionError(
            `could not connect to nats at ${where}: tried for ${Date.now() - started} ms (${attempts} attempts), last error: ${String(
              (lastError as Error | undefined)?.message ?? lastError,
            )}. Check that nats-server is running with JetStream (-js) and reachable at that address ` +
              `(install nats-server and start it with JetStream, \`nats-server -js\`; in the Woodwork repository: \`bash tools/services.sh start nats\`), and the URL's credentials; raise connectTimeoutMs to wait longer.`,
            lastError,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, options.reconnectTimeWaitMs));
      }
    }
    try {
      const bucket = `${options.prefix}-leases`;
      // The broker may be restarting right now: JetStream answers a moment after the port does.
      const jsm = await retrying(async () => {
        const manager = await driver.jetstream.jetstreamManager(nc, { timeout: options.requestTimeoutMs });
        await this.ensureLeaseBucket(manager, bucket);
        return manager;
      }, Math.max(options.requestTimeoutMs, deadline - Date.now()));
      const js = driver.jetstream.jetstream(nc, { timeout: options.requestTimeoutMs });
      const inbox = driver.transport.createInbox();
      const publisher = new OrderedPublisher(
        nc,
        `${inbox}.pub`,
        {
          window: options.maxPendingPublishes,
          requestTimeoutMs: options.requestTimeoutMs,
          publishTimeoutMs: options.publishTimeoutMs,
        },
        { noResponders: (subject) => this.reensureStream(subject) },
      );
      const acker = new AckConfirmer(nc, `${inbox}.ack`, options.requestTimeoutMs);
      const context: SubscriptionContext = {
        nc,
        js,
        jsm,
        acker,
        options,
        leaseStream: `KV_${bucket}`,
        leaseSubjectPrefix: `$KV.${bucket}`,
        newInbox: () => driver.transport.createInbox(),
        forget: (subscription) => this.subscriptions.delete(subscription),
      };
      this.connected = { driver, nc, js, jsm, publisher, acker, context };
      this.online = true;
      void this.watchStatus(nc, publisher, acker);
      return this.connected;
    } catch (error) {
      await nc.close().catch(() => undefined);
      if (WoodworkBusError.isInstance(error)) throw error;
      const name = (error as { name?: unknown }).name;
      throw connectionError(
        name === 'JetStreamNotEnabled'
          ? `nats at ${where} answered, but JetStream is not enabled (start nats-server with -js)`
          : `nats at ${where} answered, but JetStream did not set up within ${options.connectTimeoutMs} ms`,
        error,
      );
    }
  }

  /** A KV bucket as `nats kv add` makes it, so `nats kv get <prefix>-leases <key>` shows a group. */
  private async ensureLeaseBucket(jsm: JetStreamManager, bucket: string): Promise<void> {
    const name = `KV_${bucket}`;
    const found = await jsm.streams.info(name).then(
      () => true,
      (error: unknown) => {
        if ((error as { code?: unknown }).code === STREAM_NOT_FOUND) return false;
        throw error;
      },
    );
    if (found) return;
    await jsm.streams
      .add({
        name,
        description: 'woodwork bus: partition leases of consumer groups',
        subjects: [`$KV.${bucket}.>`],
        max_msgs_per_subject: 1,
        discard: 'new',
        allow_rollup_hdrs: true,
        deny_delete: true,
        deny_purge: false,
        allow_direct: true,
        storage: 'file',
        num_replicas: this.options.replicas,
        duplicate_window: nanos(120_000),
      })
      .catch((error: unknown) => {
        // Another process created it first.
        if ((error as { code?: unknown }).code !== STREAM_NAME_IN_USE) throw error;
      });
  }

  private async watchStatus(nc: NatsConnection, publisher: OrderedPublisher, acker: AckConfirmer): Promise<void> {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect') {
        this.online = false;
        publisher.pause();
        acker.pause();
      } else if (status.type === 'reconnect') {
        this.online = true;
        publisher.resume();
        acker.resume();
        for (const subscription of this.subscriptions) subscription.onReconnect();
      }
    }
  }

  // ---- topics ---------------------------------------------------------------------------------

  private topicStream(topic: string): Promise<TopicStream> {
    let entry = this.streams.get(topic);
    if (entry === undefined) {
      entry = this.ensureStream(topic).catch((error: unknown) => {
        throw WoodworkBusError.isInstance(error) ? error : connectionError(`could not set up the stream of topic ${topic}`, error);
      });
      this.streams.set(topic, entry);
      entry.catch(() => {
        if (this.streams.get(topic) === entry) this.streams.delete(topic);
      });
    }
    return entry;
  }

  private async ensureStream(topic: string): Promise<TopicStream> {
    const { jsm } = await this.connection();
    return retrying(() => this.lookUpOrCreateStream(jsm, topic), this.options.publishTimeoutMs);
  }

  private async lookUpOrCreateStream(jsm: JetStreamManager, topic: string): Promise<TopicStream> {
    const names = topicNames(this.options.prefix, topic);
    this.topicsByToken.set(names.token, topic);
    const config: Partial<StreamConfig> & { name: string } = {
      name: names.stream,
      description: `woodwork bus topic ${JSON.stringify(topic)}; partitions=${this.options.partitions}`,
      subjects: [names.streamSubjects],
      retention: 'limits',
      storage: this.options.storage,
      num_replicas: this.options.replicas,
      discard: 'old',
      max_age: nanos(this.options.maxAgeMs),
      max_bytes: this.options.maxBytes,
      max_msgs: -1,
      duplicate_window: nanos(this.options.duplicateWindowMs),
    };
    let info: StreamInfo;
    try {
      info = await jsm.streams.info(names.stream);
    } catch (error) {
      if ((error as { code?: unknown }).code !== STREAM_NOT_FOUND) throw error;
      try {
        info = await jsm.streams.add(config);
      } catch (addError) {
        const code = (addError as { code?: unknown }).code;
        if (code !== STREAM_NAME_IN_USE && code !== SUBJECTS_OVERLAP) throw addError;
        // Made meanwhile by another client; an overlap with a stream of another name stays an error.
        info = await jsm.streams.info(names.stream).catch((infoError: unknown) => {
          throw (infoError as { code?: unknown }).code === STREAM_NOT_FOUND ? addError : infoError;
        });
      }
    }
    return { names, partitions: partitionsOf(info) ?? this.options.partitions };
  }

  /** JetStream had no responder for a subject: the stream may have been deleted; make it again. */
  private reensureStream(subject: string): void {
    const topic = this.topicsByToken.get(subject.split('.')[1] ?? '');
    if (topic === undefined) return;
    const now = Date.now();
    if (now - (this.lastReensure.get(topic) ?? 0) < 1_000) return;
    this.lastReensure.set(topic, now);
    this.streams.delete(topic);
    this.topicStream(topic).catch(() => undefined);
  }

  // ---- BusAdapterV1 ---------------------------------------------------------------------------

  async doPublish(topic: string, records: readonly WireRecord[]): Promise<void> {
    if (this.closing) throw new WoodworkBusError('WW_BUS_CLOSED', 'the nats bus is closed');
    const { driver, publisher } = await this.connection();
    const { names, partitions } = await this.topicStream(topic);
    const prefix = this.options.prefix;
    await Promise.all(
      records.map((record) => {
        const headers = driver.transport.headers();
        headers.set(MSG_ID_HEADER, record.messageId);
        if (keyToken(record.key) !== record.key) headers.set(KEY_HEADER, record.key);
        return publisher.publish(recordSubject(prefix, names, partitions, record.key), record.body, headers);
      }),
    );
  }

  async doSubscribe(request: AdapterSubscribeRequest): Promise<AdapterSubscription> {
    if (this.closing) throw new WoodworkBusError('WW_BUS_CLOSED', 'the nats bus is closed');
    const { context } = await this.connection();
    const topic = await this.topicStream(request.topic);
    const subscription = new NatsSubscription(context, topic, request);
    this.subscriptions.add(subscription);
    try {
      await subscription.start();
    } catch (error) {
      await subscription.close();
      this.subscriptions.delete(subscription);
      throw WoodworkBusError.isInstance(error)
        ? error
        : connectionError(`could not subscribe to ${request.topic} as group ${request.group}`, error);
    }
    return subscription;
  }

  async *doReplay(request: AdapterReplayRequest): AsyncIterable<ReplayedRecord> {
    const { js, jsm } = await this.connection();
    const names = topicNames(this.options.prefix, request.topic);
    let info: StreamInfo;
    try {
      info = await retrying(() => jsm.streams.info(names.stream), this.options.publishTimeoutMs);
    } catch (error) {
      if ((error as { code?: unknown }).code === STREAM_NOT_FOUND) return;
      throw connectionError(`could not read the stream of topic ${request.topic}`, error);
    }
    let from = 1;
    if (request.afterPosition !== undefined) {
      const after = Number(request.afterPosition);
      if (!Number.isSafeInteger(after) || after < 0) {
        throw new WoodworkBusError('WW_BUS_INVALID_OPTION', `replay position ${request.afterPosition} is not a NATS stream sequence`);
      }
      from = after + 1;
    }
    const partitions = partitionsOf(info) ?? this.options.partitions;
    const filter =
      request.key === undefined ? names.streamSubjects : recordSubject(this.options.prefix, names, partitions, request.key);
    for await (const message of readStream(js, names.stream, {
      filter,
      fromSequence: Math.max(from, info.state.first_seq),
      toSequence: info.state.last_seq,
      expiresMs: this.options.requestTimeoutMs,
    })) {
      yield { record: toWireRecord(names.stream, message.seq, message.subject, message), position: String(message.seq) };
    }
  }

  /**
   * Per partition, the group's durable consumer: `num_pending` (not delivered yet) plus
   * `num_ack_pending` (delivered, not acknowledged: in handlers, in lanes, waiting a nak's delay).
   * Looks only: a topic or group that does not exist yet counts 0 and is not created.
   */
  async doQueueDepth(topic: string, group: string): Promise<number> {
    if (this.closing) throw new WoodworkBusError('WW_BUS_CLOSED', 'the nats bus is closed');
    const { jsm } = await this.connection();
    const names = topicNames(this.options.prefix, topic);
    const info = await streamInfoIfAny(jsm, names.stream);
    if (!info) return 0;
    const partitions = partitionsOf(info) ?? this.options.partitions;
    const counts = await Promise.all(
      Array.from({ length: partitions }, (_, partition) =>
        jsm.consumers.info(names.stream, consumerName(group, partition)).then(
          (consumer) => consumer.num_pending + consumer.num_ack_pending,
          (error: unknown) => {
            if ((error as { code?: unknown }).code === CONSUMER_NOT_FOUND) return 0;
            throw error;
          },
        ),
      ),
    );
    return counts.reduce((sum, count) => sum + count, 0);
  }

  /**
   * A supervisor saw `consumerName`'s process die: its members leave the group's lease document
   * and the records they held are given back at once (release.ts). Resolves to that many records.
   */
  async doReleaseConsumer(topic: string, group: string, consumerName: string): Promise<number> {
    if (this.closing) throw new WoodworkBusError('WW_BUS_CLOSED', 'the nats bus is closed');
    const { nc, js, jsm, context } = await this.connection();
    const names = topicNames(this.options.prefix, topic);
    const info = await streamInfoIfAny(jsm, names.stream);
    if (!info) return 0;
    const release = {
      nc,
      js,
      jsm,
      prefix: this.options.prefix,
      leaseStream: context.leaseStream,
      leaseSubjectPrefix: context.leaseSubjectPrefix,
      requestTimeoutMs: this.options.requestTimeoutMs,
    };
    return releaseMember(release, names, partitionsOf(info) ?? this.options.partitions, group, consumerName);
  }

  async doHealth(): Promise<BusHealth> {
    const connected = this.connected;
    if (connected === undefined || this.closing) {
      return { connected: false, ready: false, adapter: 'nats', detail: this.closing ? 'closed' : 'not connected' };
    }
    const server = `${connected.nc.getServer()} (nats-server ${connected.nc.info?.version ?? '?'})`;
    if (!this.online || connected.nc.isClosed()) {
      return { connected: false, ready: false, adapter: 'nats', detail: `reconnecting to ${server}` };
    }
    try {
      await connected.jsm.getAccountInfo();
      // Spec v1.5: not ready while a subscription cannot receive (it recovers by itself once its
      // lease renews; nothing here needs a restart).
      const stalled = [...this.subscriptions].map((subscription) => subscription.notReceiving()).filter((reason) => reason !== undefined);
      if (stalled.length > 0) return { connected: true, ready: false, adapter: 'nats', detail: `${server}; not receiving: ${stalled.join('; ')}` };
      return { connected: true, ready: true, adapter: 'nats', detail: server };
    } catch (error) {
      return { connected: true, ready: false, adapter: 'nats', detail: `JetStream not answering at ${server}: ${String(error)}` };
    }
  }

  doClose(): Promise<void> {
    this.closing ??= this.close();
    return this.closing;
  }

  private async close(): Promise<void> {
    const connected = this.connected ?? (await this.connecting?.catch(() => undefined));
    const subscriptions = [...this.subscriptions];
    await Promise.allSettled(subscriptions.map((subscription) => subscription.close()));
    // The Bus settles every delivery before it closes the adapter; whatever is still out now was
    // abandoned by its caller and comes back to the group after the ack wait.
    for (const subscription of subscriptions) subscription.abandon();
    await Promise.allSettled(subscriptions.map((subscription) => subscription.left));
    if (connected === undefined) return;
    await connected.publisher.flush();
    connected.publisher.close();
    await connected.acker.close(this.options.requestTimeoutMs);
    await connected.nc.drain().catch(() => connected.nc.close());
  }
}

/** The stream's info, or undefined when it does not exist yet (looking never creates it). */
async function streamInfoIfAny(jsm: JetStreamManager, stream: string): Promise<StreamInfo | undefined> {
  try {
    return await jsm.streams.info(stream);
  } catch (error) {
    if ((error as { code?: unknown }).code === STREAM_NOT_FOUND) return undefined;
    throw error;
  }
}
