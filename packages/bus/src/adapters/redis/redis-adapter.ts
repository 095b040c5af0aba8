/**
 * The redis bus adapter: Redis Streams with consumer groups, through ioredis. This file owns the
 * connections, publishing, replay, trimming and health; subscription.ts owns consuming.
 */
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
import { loadRedisDriver } from './driver.js';
import type { RedisClient, RedisConstructor } from './driver.js';
import { compareEntryIds, formatPosition, parsePosition, partitionFor, topicKeys } from './keys.js';
import type { TopicKeys } from './keys.js';
import { driverUrl } from './options.js';
import type { ResolvedRedisOptions } from './options.js';
import { HANDOVER_CONSUMER, Scripts } from './scripts.js';
import { recordFromFields, RedisSubscription } from './subscription.js';

/** How long a first connection may take when Redis answers but slowly (not when nothing listens). */
const SLOW_SERVER_MS = 10_000;

export const REDIS_CAPABILITIES: BusCapabilities = {
  persistent: true,
  replay: true,
  deliveryCount: true,
  publishDeduplication: false,
  crossProcess: true,
  leaseRenewal: true,
};

/** Oldest Redis with everything used here (XAUTOCLAIM-era XPENDING ranges, exclusive XRANGE). */
const MINIMUM_VERSION = [6, 2];

type RawEntry = [Buffer, Buffer[] | null];

/** Records per publish script call: big batches are split so Redis is never held for long. */
const PUBLISH_CHUNK = 256;

function toBuffer(body: Uint8Array): Buffer {
  return Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new WoodworkBusError('WW_BUS_TIMEOUT', message, { isRetryable: true })), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export class RedisBusAdapter implements BusAdapterV1 {
  readonly specificationVersion = 'v1' as const;
  readonly adapterName = 'redis';
  readonly capabilities = REDIS_CAPABILITIES;
  /** Everything but publishes: subscriptions' leases, scans, claims, marks and acks; trimming. */
  private command: RedisClient | undefined;
  private scripts: Scripts | undefined;
  /**
   * Publishes only (the publish script), without auto-pipelining: a publish is written to the
   * socket when it is issued. On the shared connection it waited for whatever batch of scans,
   * marks or acks was out (ioredis keeps one auto-pipelined batch in flight per connection).
   */
  private publisher: RedisClient | undefined;
  private publishScripts: Scripts | undefined;
  private driver: RedisConstructor | undefined;
  private connecting: Promise<void> | undefined;
  private closed = false;
  private lastError: unknown;
  private readonly keysByTopic = new Map<string, TopicKeys>();
  /** Partition count per topic, once known (it never changes for a topic). */
  private readonly partitionCounts = new Map<string, number>();
  private readonly partitionLookups = new Map<string, Promise<number | undefined>>();
  /** Open subscriptions, and closed ones whose deliveries are not all settled yet. */
  private readonly subscriptions = new Set<RedisSubscription>();
  private readonly publishing = new Set<Promise<void>>();
  /** Topics this process published or subscribed to: the ones it helps trim. */
  private readonly trimTopics = new Set<string>();
  private trimTimer: ReturnType<typeof setInterval> | undefined;
  private readonly trimToken = `${process.pid}-${Math.random().toString(36).slice(2)}`;

  constructor(
    private readonly url: URL,
    readonly options: ResolvedRedisOptions,
  ) {}

  private keys(topic: string): TopicKeys {
    let keys = this.keysByTopic.get(topic);
    if (keys === undefined) {
      if (topic.length === 0) throw new WoodworkBusError('WW_BUS_INVALID_OPTION', 'a redis bus topic must not be empty');
      // Bounded for processes that publish to ever new topics; rebuilding one is cheap.
      if (this.keysByTopic.size >= 1_024) this.keysByTopic.clear();
      keys = topicKeys(this.options.keyPrefix, topic);
      this.keysByTopic.set(topic, keys);
    }
    return keys;
  }

  private closedError(): WoodworkBusError {
    return new WoodworkBusError('WW_BUS_CLOSED', 'the redis bus is closed');
  }

  // ---------------------------------------------------------------------------------------------
  // connections

  doConnect(): Promise<void> {
    if (this.closed) return Promise.reject(this.closedError());
    this.connecting ??= this.connect().catch((error: unknown) => {
      this.connecting = undefined;
      throw error;
    });
    return this.connecting;
  }

  private async connect(): Promise<void> {
    this.driver = await loadRedisDriver();
    const open = (name: string, autoPipelining: boolean) => {
      const opened = new this.driver!(driverUrl(this.url), {
        ...this.options.redisOptions,
        lazyConnect: true,
        enableAutoPipelining: autoPipelining,
        // Queued and unanswered commands are resent after a reconnect (a publish either lands —
        // maybe twice, removed by message_id — or rejects after this many attempts).
        maxRetriesPerRequest: this.options.maxRetriesPerRequest,
        autoResendUnfulfilledCommands: true,
        connectionName: name,
      });
      opened.on('error', (error: unknown) => {
        this.lastError = error;
      });
      return opened;
    };
    // Concurrent acks, marks and scans of one tick leave in one write.
    const client = open('woodwork-bus', true);
    // Publishes leave at once, whatever the other connection has in flight (README, *Connections*).
    const publisher = open('woodwork-bus:publish', false);
    try {
      await Promise.all([this.waitUntilReady(client, 'connect'), this.waitUntilReady(publisher, 'connect')]);
      const info = await client.info('server');
      const version = /redis_version:(\d+)\.(\d+)/.exec(info);
      const [major, minor] = version === null ? [0, 0] : [Number(version[1]), Number(version[2])];
      if (major < MINIMUM_VERSION[0]! || (major === MINIMUM_VERSION[0] && minor < MINIMUM_VERSION[1]!)) {
        throw new WoodworkBusError('WW_BUS_CONNECTION', `the redis bus needs Redis ${MINIMUM_VERSION.join('.')} or newer; found ${major}.${minor}`);
      }
    } catch (error) {
      client.disconnect();
      publisher.disconnect();
      throw error;
    }
    this.command = client;
    this.scripts = new Scripts(client);
    this.publisher = publisher;
    this.publishScripts = new Scripts(publisher);
    this.trimTimer = setInterval(() => void this.trimAll(), this.options.trimIntervalMs);
    this.trimTimer.unref();
  }

  /**
   * Connects a lazily created client, retrying until `connectTimeoutMs`. One `ready` listener for
   * the whole wait (one per retry used to pile up until Node warned MaxListenersExceeded), and one
   * error that says where, how long and what to check — not the driver's stack per retry.
   */
  private async waitUntilReady(client: RedisClient, what: string): Promise<void> {
    const started = Date.now();
    let attempts = 0;
    let lastError: unknown;
    const countAttempt = (error: unknown) => {
      attempts++;
      lastError = error;
    };
    client.on('error', countAttempt);
    let onReady: (() => void) | undefined;
    const ready = new Promise<void>((resolve) => {
      onReady = resolve;
      client.once('ready', resolve);
    });
    client.connect().catch(() => {});
    try {
      while (client.status !== 'ready') {
        // Nothing listening is reported after connectTimeoutMs; a server that is there but slow to
        // answer (a loaded machine, no error yet or a timeout) gets up to SLOW_SERVER_MS.
        const refused = /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH/.test(String((lastError as Error | undefined)?.message ?? ''));
        const timeoutMs = refused ? this.options.connectTimeoutMs : Math.max(this.options.connectTimeoutMs, SLOW_SERVER_MS);
        const left = started + timeoutMs - Date.now();
        if (left <= 0 || client.status === 'end') {
          const reason = String((lastError as Error | undefined)?.message ?? 'no answer');
          throw new WoodworkBusError(
            'WW_BUS_CONNECTION',
            `could not ${what} to redis at ${this.url.host}: tried for ${Date.now() - started} ms (${Math.max(1, attempts)} attempts), last error: ${reason}. ` +
              `Check that Redis is running and reachable at that address (install redis-server and start it, \`redis-server --port ${this.url.port || '6379'}\`; in the Woodwork repository: \`bash tools/services.sh start redis\`), ` +
              `the URL's password and database, and TLS (rediss://); raise connectTimeoutMs to wait longer.`,
            { cause: lastError, isRetryable: true },
          );
        }
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([ready, new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.min(50, left))))]);
        clearTimeout(timer);
      }
    } finally {
      client.off('error', countAttempt);
      if (onReady !== undefined) client.off('ready', onReady);
    }
  }

  private async ready(): Promise<{ command: RedisClient; scripts: Scripts; publishScripts: Scripts }> {
    if (this.closed) throw this.closedError();
    if (this.command === undefined) await this.doConnect();
    return { command: this.command!, scripts: this.scripts!, publishScripts: this.publishScripts! };
  }

  /** A connection of its own for one subscription's blocking reads. */
  private async openBlockingConnection(name: string): Promise<RedisClient> {
    const client = new this.driver!(driverUrl(this.url), {
      ...this.options.redisOptions,
      lazyConnect: true,
      enableAutoPipelining: false,
      // A read in flight when the connection drops must fail, not be resent later: by then the
      // lease that allowed it may belong to someone else. The read loop waits for `ready` and
      // decides again.
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      connectionName: name,
    });
    client.on('error', (error: unknown) => {
      this.lastError = error;
    });
    try {
      await this.waitUntilReady(client, 'open a reading connection');
    } catch (error) {
      client.disconnect();
      throw error;
    }
    return client;
  }

  // ---------------------------------------------------------------------------------------------
  // topics

  /** The topic's partition count; with `create`, fixes it to our option when the topic is new. */
  private partitionsOf(topic: string, create: boolean): Promise<number | undefined> | number {
    const known = this.partitionCounts.get(topic);
    if (known !== undefined) return known;
    const key = `${create ? '+' : '?'}${topic}`;
    let lookup = this.partitionLookups.get(key);
    if (lookup === undefined) {
      lookup = (async () => {
        const { command } = await this.ready();
        const meta = this.keys(topic).meta;
        let value: string | null;
        if (create) {
          const [, stored] = await Promise.all([
            command.hsetnx(meta, 'partitions', this.options.partitions),
            command.hget(meta, 'partitions'),
          ]);
          value = stored;
        } else {
          value = await command.hget(meta, 'partitions');
        }
        if (value === null) return undefined;
        const count = Number(value);
        if (!Number.isInteger(count) || count < 1) {
          throw new WoodworkBusError('WW_BUS_INVALID_OPTION', `${meta} holds partitions=${value}, not a positive integer`);
        }
        this.partitionCounts.set(topic, count);
        return count;
      })().finally(() => this.partitionLookups.delete(key));
      this.partitionLookups.set(key, lookup);
    }
    return lookup;
  }

  private async ensureGroups(topic: string, partitions: number, group: string, startId: '$' | '0'): Promise<void> {
    const { command } = await this.ready();
    const keys = this.keys(topic);
    await Promise.all(
      Array.from({ length: partitions }, (_, partition) =>
        command.xgroup('CREATE', keys.stream(partition), group, startId, 'MKSTREAM').catch((error: unknown) => {
          if (!/BUSYGROUP/.test(String((error as Error).message))) throw error;
        }),
      ),
    );
  }

  // ---------------------------------------------------------------------------------------------
  // publish

  doPublish(topic: string, records: readonly WireRecord[]): Promise<void> {
    if (this.closed) return Promise.reject(this.closedError());
    const scripts = this.publishScripts;
    const partitions = this.partitionCounts.get(topic);
    // Fast path: connected and the topic known, no extra awaits.
    const publish =
      scripts !== undefined && partitions !== undefined
        ? this.append(scripts, topic, partitions, records)
        : this.publishSlow(topic, records);
    this.publishing.add(publish);
    return publish.finally(() => this.publishing.delete(publish));
  }

  private async publishSlow(topic: string, records: readonly WireRecord[]): Promise<void> {
    let partitions: number;
    let scripts: Scripts;
    try {
      scripts = (await this.ready()).publishScripts;
      partitions = (await this.partitionsOf(topic, true))!;
    } catch (error) {
      throw WoodworkBusError.isInstance(error)
        ? error
        : new WoodworkBusError('WW_BUS_PUBLISH_FAILED', `could not publish to ${topic}`, { cause: error, isRetryable: true });
    }
    this.trimTopics.add(topic);
    return this.append(scripts, topic, partitions, records);
  }

  private append(scripts: Scripts, topic: string, partitions: number, records: readonly WireRecord[]): Promise<void> {
    const keys = this.keys(topic);
    // One script call per batch (chunked so one call never holds Redis long); calls on one
    // connection run in order, and auto-pipelining sends those issued in the same tick together.
    // No MAXLEN here: trimming must never drop an entry a group has not acknowledged, so it is
    // left to the trim script.
    const calls: Promise<unknown>[] = [];
    for (let start = 0; start < records.length; start += PUBLISH_CHUNK) {
      const chunk = records.slice(start, start + PUBLISH_CHUNK);
      const streams = [keys.clock];
      const values: (string | Buffer)[] = [];
      for (const record of chunk) {
        streams.push(keys.stream(partitionFor(record.key, partitions)));
        values.push(record.text ?? toBuffer(record.body), record.messageId, record.key);
      }
      calls.push(scripts.run('wwPublish', streams, values));
    }
    return Promise.all(calls).then(
      () => undefined,
      (error: unknown) => {
        throw new WoodworkBusError('WW_BUS_PUBLISH_FAILED', `could not publish to ${topic}: ${(error as Error).message}`, {
          cause: error,
          isRetryable: true,
        });
      },
    );
  }

  /** Settles once every publish issued so far has been answered (or failed); undefined if none is out. */
  private publishesSettled(): Promise<void> | undefined {
    if (this.publishing.size === 0) return undefined;
    return Promise.allSettled([...this.publishing]).then(() => undefined);
  }

  // ---------------------------------------------------------------------------------------------
  // subscribe

  async doSubscribe(request: AdapterSubscribeRequest): Promise<AdapterSubscription> {
    const { command, scripts } = await this.ready();
    const partitions = (await this.partitionsOf(request.topic, true))!;
    const leaseMs = this.options.leaseMs ?? Math.min(10_000, Math.max(1_000, Math.round(request.leaseMs)));
    const subscription = new RedisSubscription(
      {
        command,
        scripts,
        keys: this.keys(request.topic),
        partitions,
        openBlockingConnection: (name) => this.openBlockingConnection(name),
        ensureGroups: (group, startId) => this.ensureGroups(request.topic, partitions, group, startId),
        blockMs: this.options.blockMs,
        leaseMs,
        claimIntervalMs: this.options.claimIntervalMs,
        forget: (closed) => this.subscriptions.delete(closed),
        publishesSettled: () => this.publishesSettled(),
      },
      request,
    );
    this.subscriptions.add(subscription);
    this.trimTopics.add(request.topic);
    try {
      await subscription.start();
    } catch (error) {
      await subscription.close().catch(() => {});
      throw error;
    }
    if (this.closed) {
      await subscription.close();
      throw this.closedError();
    }
    return subscription;
  }

  // ---------------------------------------------------------------------------------------------
  // replay

  /**
   * The topic's retained entries, oldest first: the partitions' XRANGEs merged by entry id. Ids come
   * from one clock per topic (the publish script), so this is the order Redis applied the publishes;
   * entries written by other tools with XADD `*` may tie, and ties go by partition. With a key, only that key's partition is read. Ends at each partition's last
   * entry as of the call.
   */
  async *doReplay(request: AdapterReplayRequest): AsyncIterable<ReplayedRecord> {
    const { command } = await this.ready();
    const partitions = await this.partitionsOf(request.topic, false);
    if (partitions === undefined) return;
    const keys = this.keys(request.topic);
    let after: { partition: number; id: string } | undefined;
    if (request.afterPosition !== undefined) {
      after = parsePosition(request.afterPosition);
      if (after === undefined) {
        throw new WoodworkBusError(
          'WW_BUS_INVALID_OPTION',
          `redis bus positions look like p3-1712345678901-0; got ${JSON.stringify(request.afterPosition)}`,
        );
      }
    }
    const chosen =
      request.key === undefined ? Array.from({ length: partitions }, (_, index) => index) : [partitionFor(request.key, partitions)];
    const PAGE = 256;
    interface Cursor {
      partition: number;
      stream: string;
      end: string;
      /** The next XRANGE start (`(id` = after id). */
      start: string;
      page: RawEntry[];
      done: boolean;
    }
    const ends = await Promise.all(
      chosen.map((partition) => command.xrevrange(keys.stream(partition), '+', '-', 'COUNT', 1) as Promise<[string, string[]][]>),
    );
    const cursors: Cursor[] = [];
    chosen.forEach((partition, index) => {
      const last = ends[index]![0];
      if (last === undefined) return;
      let start = '-';
      if (after !== undefined) {
        // Entries after (id, partition): partitions past `after`'s include its id, the rest exclude it.
        start = partition > after.partition ? after.id : `(${after.id}`;
      }
      cursors.push({ partition, stream: keys.stream(partition), end: last[0], start, page: [], done: false });
    });
    const fill = async (cursor: Cursor): Promise<void> => {
      if (cursor.done || cursor.page.length > 0) return;
      const page = (await command.xrangeBuffer(cursor.stream, cursor.start, cursor.end, 'COUNT', PAGE)) as unknown as RawEntry[];
      cursor.page = page.filter((entry) => entry[1] !== null);
      if (page.length < PAGE) cursor.done = true;
      if (page.length > 0) cursor.start = `(${page[page.length - 1]![0].toString()}`;
    };
    await Promise.all(cursors.map(fill));
    for (;;) {
      let best: Cursor | undefined;
      let bestId = '';
      for (const cursor of cursors) {
        const head = cursor.page[0];
        if (head === undefined) continue;
        const id = head[0].toString();
        if (best === undefined || compareEntryIds(id, bestId) < 0) {
          best = cursor;
          bestId = id;
        }
      }
      if (best === undefined) return;
      const [, fields] = best.page.shift()!;
      if (best.page.length === 0) await fill(best);
      const record = recordFromFields(fields!, best.partition, bestId);
      if (request.key !== undefined && record.key !== request.key) continue;
      yield { record, position: formatPosition(best.partition, bestId) };
    }
  }

  // ---------------------------------------------------------------------------------------------
  // trimming

  private async trimAll(closing = false): Promise<void> {
    if ((this.closed && !closing) || this.command === undefined) return;
    for (const topic of this.trimTopics) {
      try {
        const keys = this.keys(topic);
        // One process trims a topic per interval; the others find the lock taken.
        const locked = await this.command.set(keys.trimLock, this.trimToken, 'PX', this.options.trimIntervalMs, 'NX');
        if (locked === 'OK') await this.trimWith(this.scripts!, topic);
      } catch {
        // Next interval. Trimming late only costs memory.
      }
    }
  }

  /**
   * Trims a topic now (the adapter does it every `trimIntervalMs`): entries past the retention
   * (age, length) that every group has acknowledged. Never an entry some group still needs.
   * Resolves to how many entries were removed.
   */
  async trim(topic: string): Promise<number> {
    return this.trimWith((await this.ready()).scripts, topic);
  }

  private async trimWith(scripts: Scripts, topic: string): Promise<number> {
    const partitions = await this.partitionsOf(topic, false);
    if (partitions === undefined) return 0;
    const keys = this.keys(topic);
    const removed = await Promise.all(
      Array.from(
        { length: partitions },
        (_, partition) =>
          scripts.run('wwTrim', [keys.stream(partition)], [this.options.retentionMs, this.options.maxLen]) as Promise<number>,
      ),
    );
    return removed.reduce((sum, count) => sum + count, 0);
  }

  // ---------------------------------------------------------------------------------------------
  // health and close

  /**
   * Per partition stream, XINFO GROUPS: `pending` (delivered, not acknowledged) plus `lag` (not
   * delivered yet). Redis cannot tell the lag after entries were deleted by hand (it is nil then,
   * and absent before 7.0): those partitions count the entries after the group's last-delivered id.
   */
  async doQueueDepth(topic: string, group: string): Promise<number> {
    if (this.closed) throw this.closedError();
    const partitions = await this.partitionsOf(topic, false);
    if (partitions === undefined) return 0;
    const { command } = await this.ready();
    const keys = this.keys(topic);
    const counts = await Promise.all(
      Array.from({ length: partitions }, async (_, partition) => {
        const stream = keys.stream(partition);
        let groups: unknown[][];
        try {
          groups = (await command.xinfo('GROUPS', stream)) as unknown[][];
        } catch (error) {
          if (/no such key/i.test((error as Error).message)) return 0;
          throw error;
        }
        for (const fields of groups) {
          const info = new Map<string, unknown>();
          for (let index = 0; index + 1 < fields.length; index += 2) info.set(String(fields[index]), fields[index + 1]);
          if (info.get('name') !== group) continue;
          const pending = Number(info.get('pending') ?? 0);
          const lag = info.get('lag');
          if (typeof lag === 'number') return pending + lag;
          return pending + (await entriesAfter(command, stream, String(info.get('last-delivered-id'))));
        }
        return 0;
      }),
    );
    return counts.reduce((sum, count) => sum + count, 0);
  }

  /**
   * A supervisor saw member `consumer` die (spec v1.4): its pending entries go to the handover
   * consumer (their delivery counts kept: what it had started counts as tried), its partition
   * leases are freed and it leaves the member set, so the other members take its partitions at
   * their next renewal and claim its entries at once instead of after the lease. `consumer`
   * matches a member of that name or, as a prefix, members named `<consumer>-…` (the default names
   * are `<hostname>-<pid>-<n>-<random>`, so `<hostname>-<pid>` releases every subscription of a
   * dead process). Resolves to the entries released.
   */
  async doReleaseConsumer(topic: string, group: string, consumer: string): Promise<number> {
    if (this.closed) throw this.closedError();
    const partitions = await this.partitionsOf(topic, false);
    if (partitions === undefined) return 0;
    const { command, scripts } = await this.ready();
    const keys = this.keys(topic);
    const matches = (name: string) => name === consumer || name.startsWith(`${consumer}-`);
    const names = new Set<string>((await command.zrange(keys.members(group), 0, -1)).filter(matches));
    let released = 0;
    for (let partition = 0; partition < partitions; partition++) {
      const stream = keys.stream(partition);
      let consumers: unknown[][] = [];
      try {
        consumers = (await command.xinfo('CONSUMERS', stream, group)) as unknown[][];
      } catch {
        continue; // no stream or no group there
      }
      for (const fields of consumers) {
        const name = String(fields[fields.indexOf('name') + 1]);
        if (name !== HANDOVER_CONSUMER && matches(name)) names.add(name);
      }
      for (const name of names) {
        for (;;) {
          const pending = (await command.xpending(stream, group, '-', '+', 1_000, name)) as [string, string, number, number][];
          if (pending.length === 0) break;
          await command.xclaim(stream, group, HANDOVER_CONSUMER, 0, ...pending.map(([id]) => id), 'JUSTID');
          released += pending.length;
        }
      }
    }
    const leaseKeys = Array.from({ length: partitions }, (_, partition) => keys.lease(group, partition));
    for (const name of names) await scripts.run('wwRelease', [keys.members(group), ...leaseKeys], [name, '1']);
    return released;
  }

  async doHealth(): Promise<BusHealth> {
    const command = this.command;
    const publisher = this.publisher;
    if (command === undefined || publisher === undefined || this.closed) {
      return { connected: false, ready: false, adapter: 'redis', detail: this.closed ? 'closed' : 'not connected' };
    }
    const connected = command.status === 'ready' && publisher.status === 'ready';
    let ready = false;
    let detail =
      command.status === publisher.status
        ? `connection ${command.status}`
        : `connection ${command.status}, publishing connection ${publisher.status}`;
    if (connected) {
      try {
        await withTimeout(Promise.all([command.ping(), publisher.ping()]), 1_000, 'redis did not answer PING within 1 s');
        ready = true;
      } catch (error) {
        detail = `connected but ${(error as Error).message}`;
      }
    } else if (this.lastError !== undefined) {
      detail += `: ${String((this.lastError as Error).message ?? this.lastError)}`;
    }
    return { connected, ready, adapter: 'redis', detail };
  }

  async doClose(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const subscriptions = [...this.subscriptions];
    await Promise.allSettled(subscriptions.map((subscription) => subscription.close()));
    for (const subscription of subscriptions) subscription.abandon();
    this.subscriptions.clear();
    if (this.trimTimer !== undefined) clearInterval(this.trimTimer);
    await Promise.allSettled([...this.publishing]);
    // A short-lived process (a CLI run, a job) would otherwise never trim what it wrote.
    await withTimeout(this.trimAll(true), 2_000, 'trim on close').catch(() => {});
    await this.connecting?.catch(() => {});
    await Promise.all(
      [this.command, this.publisher].map(async (client) => {
        if (client === undefined) return;
        try {
          await withTimeout(client.quit(), 2_000, 'redis did not answer QUIT');
        } catch {
          client.disconnect();
        }
      }),
    );
  }
}

/** Entries after `lastDelivered`, counted a page of ids at a time (Redis cannot tell the lag). */
async function entriesAfter(command: RedisClient, stream: string, lastDelivered: string): Promise<number> {
  let count = 0;
  let start = `(${lastDelivered}`;
  for (;;) {
    const page = (await command.xrange(stream, start, '+', 'COUNT', 1000)) as [string, string[]][];
    count += page.length;
    if (page.length < 1000) return count;
    start = `(${page[page.length - 1]![0]}`;
  }
}
