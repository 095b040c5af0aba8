/**
 * The bus conformance suite: one set of scenarios every adapter runs through the `Bus` wrapper
 * against its real broker, parameterised by capabilities so a backend opts out only of what it
 * cannot do. It registers vitest `describe`/`it` blocks; call it at the top level of a test file.
 *
 * Every scenario makes its own topic and group names (random prefix), opens its own buses and
 * closes them, and waits by polling with deadlines. `WOODWORK_BUS_STRESS=N` registers the whole
 * suite N times, each copy's scenarios running concurrently.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { createInterface } from 'node:readline';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import type { BusCapabilities } from '../adapter.js';
import { deadLetterTopic, DEAD_LETTER_EVENT_TYPE } from '../bus.js';
import type { Envelope, EnvelopeInit } from '../envelope.js';
import { WoodworkBusError } from '../errors.js';
import type { Bus, DeadLetter, DeliveryContext, MessageHandler, SubscribeOptions, Subscription } from '../types.js';
import { waitFor } from './wait-for.js';

export const CONFORMANCE_SCENARIOS = [
  'publish-subscribe',
  'competing-consumers',
  'nack-redelivery',
  'lease-follows-handler',
  'consumer-killed',
  'poison-crash',
  'poison-innocent',
  'poison-release',
  'release-consumer',
  'slow-session-isolation',
  'unserializable-payload',
  'max-in-flight-one',
  'close-reopen',
  'concurrent-close',
  'hundreds-of-nacks',
  'synchronous-burst',
  'session-order',
  'publisher-close',
  'topic-isolation',
  'fan-out-groups',
  'queue-depth',
  'new-group-old-messages',
  'replay-session',
  'dead-letter-redrive',
  'malformed-record',
  'deduplication',
  'broker-restart',
  'backpressure',
] as const;

export type ConformanceScenario = (typeof CONFORMANCE_SCENARIOS)[number];

export type BackpressureCheck =
  /** `publish` itself waits once a live group's backlog reaches `maxBacklog` (the memory adapter). */
  | { readonly kind: 'blocking-publish'; readonly maxBacklog: number }
  /**
   * Publishing keeps going into the broker while a consumer lags, and the test process's retained
   * memory (heap + array buffers, after a forced GC) grows by less than `maxGrowthBytes`
   * (default: half of what was published): nobody buffers the backlog in process.
   */
  | { readonly kind: 'bounded-memory'; readonly maxGrowthBytes?: number };

export interface BusConformanceSuiteOptions {
  /** Shown as the describe title. */
  readonly name: string;
  /**
   * A NEW connected Bus on the same broker each call; the suite opens several at once (publisher,
   * competing instances, a re-opened subscriber) and closes each one it opens.
   */
  readonly createBus: () => Promise<Bus>;
  /** The adapter's capabilities; needed before any bus exists, to register what runs. */
  readonly capabilities: BusCapabilities;
  /** The bus URL child processes connect to (`createBus(url)`); needed when `crossProcess`. */
  readonly url?: string;
  /**
   * The script the crash scenarios spawn with
   * `node --conditions=@woodwork/source --import tsx <script>` and env BUS_URL, TOPIC, GROUP,
   * LEASE_MS, MODE (`hold` or `poison`), MAX_IN_FLIGHT, MAX_ATTEMPTS. Default: this package's
   * generic `consumer-process` (see its header).
   */
  readonly consumerProcess?: string;
  /** Writes raw bytes to a topic with the broker's plain client (not our adapter). */
  readonly publishRaw?: (topic: string, body: Uint8Array, key: string) => Promise<void>;
  /** Restarts the broker; the broker-restart scenario runs only with it and `persistent`. */
  readonly restartBroker?: () => Promise<void>;
  /** The subscriptions' `leaseMs` in the lease and crash scenarios. Default 1500 ms. */
  readonly leaseMs?: number;
  /** @deprecated the name of `leaseMs` before spec v1.4. */
  readonly ackTimeoutMs?: number;
  /** Deadline of one scenario (and of its waits). Default 60 000 ms. */
  readonly timeoutMs?: number;
  /** Default `{ kind: 'bounded-memory' }`. */
  readonly backpressure?: BackpressureCheck;
  /** Scenarios this backend opts out of, each with the reason shown in the skip title. */
  readonly skip?: Partial<Record<ConformanceScenario, string>>;
  /**
   * Registers these scenarios only: a second configuration of an adapter whose other scenarios
   * its main suite already runs (Kafka's `recordStarts=before-handler`). Default: all.
   */
  readonly only?: readonly ConformanceScenario[];
}

/** Closes what a scenario opened, newest first, even when it fails. */
class Scope {
  private readonly closers: (() => Promise<unknown>)[] = [];
  private readonly children: ChildProcess[] = [];
  readonly prefix = `wwc-${randomUUID().slice(0, 8)}`;

  constructor(private readonly options: BusConformanceSuiteOptions) {}

  topic(label: string): string {
    return `${this.prefix}-${label}`;
  }

  group(label: string): string {
    return `${this.prefix}-g-${label}`;
  }

  async bus(): Promise<Bus> {
    const bus = await this.options.createBus();
    this.closers.push(() => bus.close());
    return bus;
  }

  async subscribe<Payload = unknown>(
    bus: Bus,
    topic: string,
    options: SubscribeOptions,
    handler: MessageHandler<Payload>,
  ): Promise<Subscription> {
    const subscription = await bus.subscribe(topic, options, handler);
    this.closers.push(() => subscription.close());
    return subscription;
  }

  track(child: ChildProcess): void {
    this.children.push(child);
  }

  async close(): Promise<void> {
    for (const child of this.children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    const failures: unknown[] = [];
    for (const close of this.closers.reverse()) {
      try {
        await close();
      } catch (error) {
        failures.push(error);
      }
    }
    if (failures.length > 0) throw failures[0];
  }
}

function envelope(sessionId: string, payload: unknown, extra: Partial<EnvelopeInit> = {}): EnvelopeInit {
  return { session_id: sessionId, event_type: 'test.message', component_source: 'conformance', payload, ...extra };
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const values: T[] = [];
  for await (const value of iterable) values.push(value);
  return values;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A promise with its resolve function, to hold a handler until the test lets it go. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

let collectGarbage: (() => void) | undefined;
function forceGc(): void {
  if (collectGarbage === undefined) {
    const exposed = (globalThis as { gc?: () => void }).gc;
    if (exposed) collectGarbage = exposed;
    else {
      setFlagsFromString('--expose-gc');
      collectGarbage = runInNewContext('gc') as () => void;
    }
  }
  collectGarbage();
}

/** Heap plus array buffers still alive. V8 frees array buffers in the background after a GC, so collect twice with a pause between. */
async function retainedBytes(): Promise<number> {
  forceGc();
  await new Promise((resolve) => setTimeout(resolve, 20));
  forceGc();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

/** Fast retry policy for scenarios that fail on purpose. */
const QUICK_BACKOFF = { initialDelayMs: 5, maxDelayMs: 50, multiplier: 2, jitter: 0 } as const;

function defaultConsumerProcess(): string {
  const self = new URL(import.meta.url);
  const extension = self.pathname.endsWith('.ts') ? 'ts' : 'js';
  // Built: dist/testing/index.js next to dist/testing/consumer-process.js; source: src/testing/*.ts.
  return new URL(`./consumer-process.${extension}`, self).pathname;
}

interface ChildConsumer {
  readonly child: ChildProcess;
  readonly received: string[];
  /** Message ids whose handler finished (MODE=poison). */
  readonly handled: string[];
  readonly output: string[];
}

function spawnConsumer(script: string, env: Record<string, string>): ChildConsumer {
  const child = spawn(process.execPath, ['--conditions=@woodwork/source', '--import', 'tsx', script], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const state: ChildConsumer = { child, received: [], handled: [], output: [] };
  createInterface({ input: child.stdout! }).on('line', (line) => {
    state.output.push(line);
    if (line.startsWith('received ')) state.received.push(line.split(' ')[1]!);
    if (line.startsWith('handled ')) state.handled.push(line.split(' ')[1]!);
  });
  createInterface({ input: child.stderr! }).on('line', (line) => state.output.push(`stderr: ${line}`));
  return state;
}

/**
 * Registers the suite (call at the top level of a test file), e.g.
 * `runBusConformanceSuite({ name: 'redis', createBus: () => createBus(url), capabilities, url, publishRaw, restartBroker })`.
 * The package README shows a complete example.
 */
export function runBusConformanceSuite(options: BusConformanceSuiteOptions): void {
  const copies = Math.max(1, Number.parseInt(process.env.WOODWORK_BUS_STRESS ?? '1', 10) || 1);
  if (copies === 1) {
    describe(`bus conformance: ${options.name}`, () => registerScenarios(options, false));
    return;
  }
  // Every copy and every scenario in it run at once (up to vitest's maxConcurrency, default 5;
  // raise it with --maxConcurrency for more pressure).
  describe.concurrent(`bus conformance: ${options.name} (stress ×${copies})`, () => {
    for (let copy = 1; copy <= copies; copy++) describe(`copy ${copy}`, () => registerScenarios(options, true));
  });
}

function registerScenarios(options: BusConformanceSuiteOptions, stress: boolean): void {
  const capabilities = options.capabilities;
  /** Why a scenario that counts a consumer process's crashes cannot run here, if it cannot. */
  const crashCountSkip = !capabilities.crossProcess
    ? 'adapter is single-process'
    : !capabilities.deliveryCount
      ? 'adapter cannot count attempts across a crash'
      : options.url
        ? undefined
        : 'no url option to give the child';
  const timeoutMs = options.timeoutMs ?? 60_000;
  const leaseMs = options.leaseMs ?? options.ackTimeoutMs ?? 1_500;
  const waitLong = { timeoutMs };
  const backpressure = options.backpressure ?? { kind: 'bounded-memory' };

  /** Registers one scenario, or a skip that says why. */
  const scenario = (
    name: ConformanceScenario,
    title: string,
    body: (scope: Scope) => Promise<void>,
    requirement?: string,
    scenarioTimeoutMs = timeoutMs,
  ) => {
    if (options.only !== undefined && !options.only.includes(name)) return;
    const optedOut = options.skip?.[name];
    if (optedOut !== undefined || requirement !== undefined) {
      it.skip(`${name}: ${title} (skipped: ${optedOut ?? requirement})`, () => undefined);
      return;
    }
    it(
      `${name}: ${title}`,
      async () => {
        const scope = new Scope(options);
        try {
          await body(scope);
        } finally {
          await scope.close();
        }
      },
      scenarioTimeoutMs + 15_000,
    );
  };

  scenario('publish-subscribe', 'delivers payload and metadata intact', async (scope) => {
    const topic = scope.topic('pubsub');
    const publisher = await scope.bus();
    const consumer = await scope.bus();
    const received: { envelope: Envelope; context: DeliveryContext }[] = [];
    await scope.subscribe(consumer, topic, { group: scope.group('a') }, (envelope, context) => {
      received.push({ envelope, context: { ...pickContext(context) } });
    });
    const payload = { text: 'héllo 🌲 wörld', number: 42.5, nested: { list: [1, 'two', null, true] }, empty: {} };
    const published = await publisher.publish(topic, {
      session_id: 'session-1',
      event_type: 'agent.response',
      component_source: 'agent',
      component_target: 'output',
      stream_id: 'stream-9',
      is_stream: true,
      chunk_index: 3,
      is_final: true,
      payload,
      routing: { next_component: 'output', pipe_chain: ['redact', 'format'] },
      trace: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', tracestate: 'ww=1' },
    });
    expect(published.message_id).toMatch(/.+/);
    expect(Date.parse(published.timestamp)).not.toBeNaN();
    expect(published.attempt).toBe(1);
    await waitFor(() => received.length === 1, { ...waitLong, message: 'the message never arrived' });
    const [{ envelope: got, context }] = received as [(typeof received)[0]];
    expect(JSON.parse(JSON.stringify(got))).toEqual(JSON.parse(JSON.stringify(published)));
    expect(context.topic).toBe(topic);
    expect(context.group).toBe(scope.group('a'));
    expect(context.attempt).toBe(1);
    expect(typeof context.position).toBe('string');
    expect(context.position.length).toBeGreaterThan(0);
    await sleep(100);
    expect(received).toHaveLength(1);
  });

  scenario('competing-consumers', 'spreads many messages over one group, each handled exactly once', async (scope) => {
    const topic = scope.topic('compete');
    const group = scope.group('workers');
    const counts = new Map<string, number>();
    const perMember = [0, 0, 0];
    for (let member = 0; member < 3; member++) {
      const bus = await scope.bus();
      await scope.subscribe(bus, topic, { group, maxInFlight: 8 }, async (envelope) => {
        perMember[member]!++;
        counts.set(envelope.message_id, (counts.get(envelope.message_id) ?? 0) + 1);
        await sleep(Math.random() * 2);
      });
    }
    const publisher = await scope.bus();
    const total = 600;
    const published: Envelope[] = [];
    for (let batch = 0; batch < total / 100; batch++) {
      published.push(
        ...(await publisher.publishMany(
          topic,
          Array.from({ length: 100 }, (_, index) => envelope(`session-${(batch * 100 + index) % 40}`, { index })),
        )),
      );
    }
    await waitFor(() => counts.size === total, { ...waitLong, message: () => `${counts.size}/${total} handled` });
    await sleep(200);
    expect([...counts.values()].every((count) => count === 1)).toBe(true);
    expect(new Set(published.map((item) => item.message_id))).toEqual(new Set(counts.keys()));
    expect(perMember.reduce((sum, value) => sum + value, 0)).toBe(total);
  });

  scenario('nack-redelivery', 'redelivers a message whose handler threw, with attempt 2', async (scope) => {
    const topic = scope.topic('nack');
    const bus = await scope.bus();
    const attempts: number[] = [];
    const envelopeAttempts: number[] = [];
    await scope.subscribe(bus, topic, { group: scope.group('a'), backoff: QUICK_BACKOFF }, (envelope, context) => {
      attempts.push(context.attempt);
      envelopeAttempts.push(envelope.attempt);
      if (context.attempt === 1) throw new Error('fail once');
    });
    await bus.publish(topic, envelope('s', 'x'));
    await waitFor(() => attempts.length === 2, { ...waitLong, message: () => `attempts ${attempts.join(',')}` });
    await sleep(100);
    expect(attempts).toEqual([1, 2]);
    expect(envelopeAttempts).toEqual([1, 2]);
    expect(await collect(bus.deadLetters(topic, scope.group('a')))).toEqual([]);
  });

  scenario(
    'lease-follows-handler',
    'never hands a message to another member while its handler runs, however long past the lease',
    async (scope) => {
      const topic = scope.topic('lease');
      const group = scope.group('a');
      // Each handler runs three leases long. Before spec v1.4 every one of these was handed to the
      // other member (or, on the memory bus with one subscriber, stalled the subscription).
      const handled: { id: string; member: number; attempt: number }[] = [];
      let running = 0;
      for (let member = 0; member < 2; member++) {
        const bus = await scope.bus();
        await scope.subscribe(bus, topic, { group, maxInFlight: 3, leaseMs }, async (envelope, context) => {
          running++;
          handled.push({ id: envelope.message_id, member, attempt: context.attempt });
          await sleep(3 * leaseMs);
          running--;
        });
      }
      const publisher = await scope.bus();
      const published: string[] = [];
      for (let session = 0; session < 6; session++) {
        published.push((await publisher.publish(topic, envelope(`s${session}`, session))).message_id);
      }
      await waitFor(() => handled.length >= 6 && running === 0, {
        ...waitLong,
        message: () => `handled ${handled.length} of 6, ${running} running`,
      });
      await waitFor(async () => (await publisher.queueDepth(topic, group)) === 0, {
        ...waitLong,
        message: 'queue depth never went back to 0',
      });
      // One more lease: a redelivery of any of them would show up now.
      await sleep(leaseMs);
      expect(handled.map((entry) => entry.id).sort()).toEqual([...published].sort());
      expect(handled.every((entry) => entry.attempt === 1)).toBe(true);
    },
    undefined,
    timeoutMs,
  );

  scenario(
    'unserializable-payload',
    'rejects BigInt and circular payloads on publish, naming the field',
    async (scope) => {
      const topic = scope.topic('json');
      const bus = await scope.bus();
      const circular: Record<string, unknown> = { name: 'loop' };
      circular['self'] = { again: circular };
      const cases: [unknown, string][] = [
        [{ user: { id: 12n } }, 'payload.user.id is a BigInt'],
        [[1, { n: 2n }], 'payload[1].n is a BigInt'],
        [circular, 'payload.self.again refers back to payload'],
      ];
      for (const [payload, reason] of cases) {
        const error = await bus.publish(topic, envelope('s', payload)).then(
          () => undefined,
          (rejection: unknown) => rejection,
        );
        expect(WoodworkBusError.isInstance(error), String(error)).toBe(true);
        expect((error as WoodworkBusError).code).toBe('WW_BUS_INVALID_ENVELOPE');
        expect((error as Error).message).toContain(reason);
      }
      // What JSON can encode still goes, Dates included (JSON turns them into strings).
      const shared = { text: 'twice' };
      await bus.publish(topic, envelope('s', { at: new Date(0), first: shared, second: shared }));
    },
  );

  scenario(
    'slow-session-isolation',
    "holds back only a slow message's own session, not the others",
    async (scope) => {
      const topic = scope.topic('isolation');
      const group = scope.group('a');
      const bus = await scope.bus();
      const hold = gate();
      let slowStarted = false;
      const others = new Set<string>();
      await scope.subscribe(bus, topic, { group, maxInFlight: 16, leaseMs }, async (envelope) => {
        if (envelope.payload === 'slow') {
          slowStarted = true;
          await hold.promise;
          return;
        }
        others.add(envelope.session_id);
      });
      await bus.publish(topic, envelope('slow-session', 'slow'));
      await waitFor(() => slowStarted, { ...waitLong, message: 'the slow message never started' });
      // Published while the slow one runs: on Kafka before the fix, the next fetch waited for it.
      const sessions = Array.from({ length: 12 }, (_, index) => `other-${index}`);
      for (const session of sessions) await bus.publish(topic, envelope(session, 'quick'));
      try {
        await waitFor(() => others.size === sessions.length, {
          ...waitLong,
          message: () => `only ${others.size} of ${sessions.length} other sessions were handled while the slow one ran`,
        });
      } finally {
        hold.open();
      }
    },
  );

  scenario(
    'consumer-killed',
    'redelivers what a SIGKILLed consumer process held',
    async (scope) => {
      const topic = scope.topic('killed');
      const group = scope.group('a');
      const consumer = spawnConsumer(options.consumerProcess ?? defaultConsumerProcess(), {
        BUS_URL: options.url!,
        TOPIC: topic,
        GROUP: group,
        LEASE_MS: String(leaseMs),
      });
      scope.track(consumer.child);
      await waitFor(() => consumer.output.includes('ready') || consumer.child.exitCode !== null, {
        ...waitLong,
        message: () => `child never got ready: ${consumer.output.join('\n')}`,
      });
      expect(consumer.child.exitCode, consumer.output.join('\n')).toBeNull();
      const bus = await scope.bus();
      const published = await bus.publish(topic, envelope('s', 'held by the child'));
      await waitFor(() => consumer.received.length > 0, {
        ...waitLong,
        message: () => `child never received: ${consumer.output.join('\n')}`,
      });
      expect(consumer.received[0]).toBe(published.message_id);
      consumer.child.kill('SIGKILL');
      await waitFor(() => consumer.child.signalCode !== null || consumer.child.exitCode !== null, waitLong);
      const handled: { id: string; attempt: number }[] = [];
      const killedAt = performance.now();
      await scope.subscribe(bus, topic, { group, maxInFlight: 1, leaseMs }, (envelope, context) => {
        handled.push({ id: envelope.message_id, attempt: context.attempt });
      });
      await waitFor(() => handled.length > 0, { ...waitLong, message: 'the killed consumer’s message never came back' });
      // A figure, not an assertion (wall-clock time on a shared machine): with leases that follow
      // the handler, the lease can be short, so this is a few leases, not a long ack timeout.
      console.info(
        `[conformance ${options.name}] consumer-killed: redelivered ${Math.round(performance.now() - killedAt)} ms after SIGKILL (leaseMs ${leaseMs})`,
      );
      expect(handled[0]!.id).toBe(published.message_id);
      if (capabilities.deliveryCount) expect(handled[0]!.attempt).toBeGreaterThanOrEqual(2);
    },
    !capabilities.crossProcess ? 'adapter is single-process' : options.url ? undefined : 'no url option to give the child',
  );

  scenario(
    'release-consumer',
    "releases a dead member's work at once when told (releaseConsumer), long before its lease",
    async (scope) => {
      const topic = scope.topic('release');
      const group = scope.group('a');
      const bus = await scope.bus();
      // A lease far longer than the wait below: only the release can bring the message back in time.
      const consumer = spawnConsumer(options.consumerProcess ?? defaultConsumerProcess(), {
        BUS_URL: options.url!,
        TOPIC: topic,
        GROUP: group,
        LEASE_MS: String(10 * timeoutMs),
      });
      scope.track(consumer.child);
      await waitFor(() => consumer.output.includes('ready') || consumer.child.exitCode !== null, {
        ...waitLong,
        message: () => `child never got ready: ${consumer.output.join('\n')}`,
      });
      const published = await bus.publish(topic, envelope('s', 'held by the child'));
      await waitFor(() => consumer.received.length > 0, { ...waitLong, message: () => consumer.output.join('\n') });
      const handled: string[] = [];
      await scope.subscribe(bus, topic, { group, maxInFlight: 1, leaseMs }, (envelope) => {
        handled.push(envelope.message_id);
      });
      consumer.child.kill('SIGKILL');
      await waitFor(() => consumer.child.signalCode !== null || consumer.child.exitCode !== null, waitLong);
      // What a supervisor knows of a dead host: its hostname and PID (default consumer names).
      const released = await bus.releaseConsumer(topic, group, `${hostname()}-${consumer.child.pid}`);
      if (released === undefined) {
        console.info(`[conformance ${options.name}] release-consumer: not offered by this adapter; work moves after the lease`);
        return;
      }
      const releasedAt = performance.now();
      expect(released).toBeGreaterThanOrEqual(1);
      await waitFor(() => handled.includes(published.message_id), {
        ...waitLong,
        message: 'the released message never reached the live member',
      });
      console.info(
        `[conformance ${options.name}] release-consumer: redelivered ${Math.round(performance.now() - releasedAt)} ms after releaseConsumer`,
      );
    },
    !capabilities.crossProcess ? 'adapter is single-process' : options.url ? undefined : 'no url option to give the child',
  );

  scenario(
    'poison-crash',
    'dead-letters a message that crashed its consumer maxAttempts times, and no innocent message',
    async (scope) => {
      const topic = scope.topic('poison');
      const group = scope.group('a');
      const maxAttempts = 2;
      const bus = await scope.bus();
      // Session p: the poison, then a message that waits behind it (read ahead, never started
      // while the poison blocks its session). Sessions q and r: messages handled and acknowledged
      // by each crashing consumer, or read and not started yet.
      const poison = await bus.publish(topic, envelope('p', 'poison'));
      const innocents = [
        await bus.publish(topic, envelope('p', 'behind the poison')),
        await bus.publish(topic, envelope('q', 'handled')),
        await bus.publish(topic, envelope('r', 'handled')),
      ];
      for (let crash = 1; crash <= maxAttempts; crash++) {
        const consumer = spawnConsumer(options.consumerProcess ?? defaultConsumerProcess(), {
          BUS_URL: options.url!,
          TOPIC: topic,
          GROUP: group,
          MODE: 'poison',
          LEASE_MS: String(leaseMs),
          MAX_IN_FLIGHT: '4',
          MAX_ATTEMPTS: String(maxAttempts),
        });
        scope.track(consumer.child);
        await waitFor(() => consumer.child.exitCode !== null || consumer.child.signalCode !== null, {
          ...waitLong,
          message: () => `consumer ${crash} never met the poison: ${consumer.output.join('\n')}`,
        });
        expect(consumer.child.signalCode, consumer.output.join('\n')).toBe('SIGKILL');
        expect(consumer.received, consumer.output.join('\n')).toContain(poison.message_id);
      }
      const handled = new Map<string, number>();
      await scope.subscribe(bus, topic, { group, maxInFlight: 4, maxAttempts, leaseMs }, (envelope, context) => {
        if (envelope.payload === 'poison') throw new Error('the poison reached a handler a third time');
        handled.set(envelope.message_id, context.attempt);
      });
      await waitFor(async () => (await collect(bus.deadLetters(topic, group))).length > 0, {
        ...waitLong,
        message: 'the poison message was never dead-lettered',
      });
      await waitFor(() => handled.has(innocents[0]!.message_id), {
        ...waitLong,
        message: 'the message behind the poison never reached a handler',
      });
      // Everything settled: the others were acknowledged by a crashed consumer or handled here.
      await waitFor(async () => (await bus.queueDepth(topic, group)) === 0, { ...waitLong, message: 'messages left unsettled' });
      const letters = await collect(bus.deadLetters(topic, group));
      expect(letters.map((letter) => letter.envelope?.message_id)).toEqual([poison.message_id]);
      expect(letters[0]!.attempts).toBe(maxAttempts);
      // Never started by either crashed consumer: still its first attempt.
      expect(handled.get(innocents[0]!.message_id)).toBe(1);
      for (const innocent of innocents.slice(1)) {
        expect(handled.get(innocent.message_id) ?? 1).toBeLessThanOrEqual(maxAttempts);
      }
    },
    crashCountSkip,
  );

  scenario(
    'poison-innocent',
    'a message of another session in its handler each time the poison crashes its consumer is never dead-lettered',
    async (scope) => {
      const topic = scope.topic('innocent');
      const group = scope.group('a');
      const maxAttempts = 2;
      const bus = await scope.bus();
      const spawnPoisonConsumer = () => {
        const consumer = spawnConsumer(options.consumerProcess ?? defaultConsumerProcess(), {
          BUS_URL: options.url!,
          TOPIC: topic,
          GROUP: group,
          MODE: 'poison',
          LEASE_MS: String(leaseMs),
          MAX_IN_FLIGHT: '4',
          MAX_ATTEMPTS: String(maxAttempts),
          // Far longer than the poison's 50 ms: the innocent is still in its handler at the crash.
          SLOW_MS: '3000',
        });
        scope.track(consumer.child);
        return consumer;
      };
      const children: ChildConsumer[] = [];
      const died = (consumer: ChildConsumer) => consumer.child.exitCode !== null || consumer.child.signalCode !== null;
      // The first consumer takes the innocent message (session i, a 3 s handler), and the poison
      // (session p) comes while it runs: both are in a handler when the poison kills the process.
      const first = spawnPoisonConsumer();
      children.push(first);
      await waitFor(() => first.output.includes('ready') || died(first), {
        ...waitLong,
        message: () => `child never got ready: ${first.output.join('\n')}`,
      });
      const innocent = await bus.publish(topic, envelope('i', 'slow'));
      await waitFor(() => first.received.includes(innocent.message_id) || died(first), {
        ...waitLong,
        message: () => `the first consumer never received the innocent message: ${first.output.join('\n')}`,
      });
      const poison = await bus.publish(topic, envelope('p', 'poison'));
      // Each later consumer gets both again after the crash (maybe at once): the poison kills it
      // each time it runs, maxAttempts times in all.
      for (let crash = 1; crash <= maxAttempts; crash++) {
        const consumer = crash === 1 ? first : spawnPoisonConsumer();
        if (crash > 1) children.push(consumer);
        await waitFor(() => died(consumer), {
          ...waitLong,
          message: () => `consumer ${crash} never met the poison: ${consumer.output.join('\n')}`,
        });
        expect(consumer.child.signalCode, consumer.output.join('\n')).toBe('SIGKILL');
        expect(consumer.received, consumer.output.join('\n')).toContain(poison.message_id);
      }
      const handledHere: string[] = [];
      await scope.subscribe(bus, topic, { group, maxInFlight: 4, maxAttempts, leaseMs }, (envelope) => {
        if (envelope.payload === 'poison') throw new Error('the poison reached a handler more than maxAttempts times');
        handledHere.push(envelope.message_id);
      });
      await waitFor(
        async () => (await collect(bus.deadLetters(topic, group))).some((letter) => letter.envelope?.message_id === poison.message_id),
        { ...waitLong, message: 'the poison message was never dead-lettered' },
      );
      const handledByChild = () => children.some((child) => child.handled.includes(innocent.message_id));
      const innocentLetter = async () =>
        (await collect(bus.deadLetters(topic, group))).find((letter) => letter.envelope?.message_id === innocent.message_id);
      // Handled (by a consumer that ran it alone, or here) — or dead-lettered, which fails below.
      await waitFor(async () => handledByChild() || handledHere.includes(innocent.message_id) || (await innocentLetter()) !== undefined, {
        ...waitLong,
        message: 'the innocent message was neither handled nor dead-lettered',
      });
      const letter = await innocentLetter();
      expect(
        letter,
        `the innocent message was dead-lettered with the poison (${letter?.attempts} attempts: ${letter?.lastError.message}); consumers:\n${children.map((child) => child.output.join('\n')).join('\n--\n')}`,
      ).toBeUndefined();
      await waitFor(async () => (await bus.queueDepth(topic, group)) === 0, { ...waitLong, message: 'messages left unsettled' });
      const letters = await collect(bus.deadLetters(topic, group));
      expect(letters.map((entry) => entry.envelope?.message_id)).toEqual([poison.message_id]);
      expect(letters[0]!.attempts).toBe(maxAttempts);
    },
    crashCountSkip,
  );

  scenario(
    'poison-release',
    'dead-letters a message that kills its consumer at once, released by a supervisor after each crash, after exactly maxAttempts runs',
    async (scope) => {
      const topic = scope.topic('released');
      const group = scope.group('a');
      const maxAttempts = 2;
      const bus = await scope.bus();
      const children: ChildConsumer[] = [];
      const spawnPoisonConsumer = () => {
        const consumer = spawnConsumer(options.consumerProcess ?? defaultConsumerProcess(), {
          BUS_URL: options.url!,
          TOPIC: topic,
          GROUP: group,
          MODE: 'poison',
          // The poison kills before its handler's first await, as the fault harness's does: no
          // timer of the adapter gets to run between the hand-out and the crash.
          POISON_AT_ONCE: '1',
          LEASE_MS: String(leaseMs),
          MAX_IN_FLIGHT: '4',
          MAX_ATTEMPTS: String(maxAttempts),
          SLOW_MS: '1000',
        });
        scope.track(consumer.child);
        children.push(consumer);
        return consumer;
      };
      const died = (consumer: ChildConsumer) => consumer.child.exitCode !== null || consumer.child.signalCode !== null;
      const outputs = () => children.map((child) => child.output.join('\n')).join('\n--\n');
      // Crash 1: an innocent message (session i, a 1 s handler) is in a handler when the poison
      // (session p) kills the process. Crash 2: both come back as suspects; the innocent, first
      // in the log, runs alone while the poison is held back unstarted, then the poison runs and
      // kills at once. Between crashes the test does what `woodwork up` does for a dead host:
      // releaseConsumer with its hostname and PID.
      const first = spawnPoisonConsumer();
      await waitFor(() => first.output.includes('ready') || died(first), {
        ...waitLong,
        message: () => `child never got ready: ${outputs()}`,
      });
      const innocent = await bus.publish(topic, envelope('i', 'slow'));
      await waitFor(() => first.received.includes(innocent.message_id) || died(first), {
        ...waitLong,
        message: () => `the first consumer never received the innocent message: ${outputs()}`,
      });
      const poison = await bus.publish(topic, envelope('p', 'poison'));
      for (let crash = 1; crash <= maxAttempts; crash++) {
        const consumer = crash === 1 ? first : spawnPoisonConsumer();
        await waitFor(() => died(consumer), { ...waitLong, message: () => `consumer ${crash} never met the poison: ${outputs()}` });
        expect(consumer.child.signalCode, outputs()).toBe('SIGKILL');
        expect(consumer.received, outputs()).toContain(poison.message_id);
        await bus.releaseConsumer(topic, group, `${hostname()}-${consumer.child.pid}`);
      }
      let poisonHere = 0;
      let innocentHere = false;
      await scope.subscribe(bus, topic, { group, maxInFlight: 4, maxAttempts, leaseMs }, (envelope) => {
        if (envelope.payload === 'poison') {
          poisonHere++;
          throw new Error('the poison reached a handler more than maxAttempts times');
        }
        if (envelope.message_id === innocent.message_id) innocentHere = true;
      });
      await waitFor(
        async () => (await collect(bus.deadLetters(topic, group))).some((letter) => letter.envelope?.message_id === poison.message_id),
        { ...waitLong, message: () => `the poison message was never dead-lettered; consumers:\n${outputs()}` },
      );
      const runs = children.reduce((sum, child) => sum + child.received.filter((id) => id === poison.message_id).length, 0);
      expect(runs + poisonHere, `runs of the poison; consumers:\n${outputs()}`).toBe(maxAttempts);
      const letters = await collect(bus.deadLetters(topic, group));
      expect(letters.map((letter) => letter.envelope?.message_id), `innocent ${innocent.message_id}; consumers:\n${outputs()}`).toEqual([poison.message_id]);
      expect(letters[0]!.attempts).toBe(maxAttempts);
      // Not lost either: its handler finished in a consumer before the second crash, or here.
      await waitFor(() => innocentHere || children.some((child) => child.handled.includes(innocent.message_id)), {
        ...waitLong,
        message: () => `the innocent message was never handled; consumers:\n${outputs()}`,
      });
    },
    crashCountSkip,
  );

  scenario('max-in-flight-one', 'hands out no next message until the first is settled', async (scope) => {
    const topic = scope.topic('inflight1');
    const bus = await scope.bus();
    let active = 0;
    let maxActive = 0;
    const events: string[] = [];
    await scope.subscribe(bus, topic, { group: scope.group('a'), maxInFlight: 1 }, async (envelope) => {
      active++;
      maxActive = Math.max(maxActive, active);
      events.push(`start ${String(envelope.payload)}`);
      await sleep(15);
      events.push(`end ${String(envelope.payload)}`);
      active--;
    });
    await bus.publishMany(
      topic,
      Array.from({ length: 8 }, (_, index) => envelope(`session-${index}`, index)),
    );
    await waitFor(() => events.length === 16, { ...waitLong, message: () => events.join(', ') });
    expect(maxActive).toBe(1);
    for (let index = 0; index < 16; index += 2) {
      expect(events[index]!.startsWith('start')).toBe(true);
      expect(events[index + 1]).toBe(events[index]!.replace('start', 'end'));
    }
  });

  scenario('close-reopen', 'loses nothing when subscribers close and re-open', async (scope) => {
    const topic = scope.topic('reopen');
    const group = scope.group('a');
    const publisher = await scope.bus();
    const seen = new Set<string>();
    const handler = async (envelope: Envelope) => {
      seen.add(envelope.message_id);
      await sleep(1);
    };
    const firstBus = await scope.bus();
    const first = await scope.subscribe(firstBus, topic, { group, maxInFlight: 4 }, handler);
    const ids: string[] = [];
    const publish = async (count: number, label: string) => {
      for (let index = 0; index < count; index += 50) {
        const batch = await publisher.publishMany(
          topic,
          Array.from({ length: 50 }, (_, offset) => envelope(`s-${(index + offset) % 7}`, `${label}-${index + offset}`)),
        );
        ids.push(...batch.map((item) => item.message_id));
      }
    };
    await publish(200, 'before');
    await waitFor(() => seen.size >= 30, waitLong);
    await first.close();
    await firstBus.close();
    await publish(100, 'while-closed');
    const secondBus = await scope.bus();
    await scope.subscribe(secondBus, topic, { group, maxInFlight: 4 }, handler);
    await publish(100, 'after');
    await waitFor(() => ids.every((id) => seen.has(id)), {
      ...waitLong,
      message: () => `${ids.filter((id) => !seen.has(id)).length} of ${ids.length} missing`,
    });
  });

  scenario('concurrent-close', 'closes subscriptions and buses concurrently, idempotently, without loss', async (scope) => {
    const topic = scope.topic('concclose');
    const group = scope.group('a');
    const publisher = await scope.bus();
    const seen = new Set<string>();
    const handler = async (envelope: Envelope) => {
      await sleep(2);
      seen.add(envelope.message_id);
    };
    const buses: Bus[] = [];
    const subscriptions: Subscription[] = [];
    for (let member = 0; member < 3; member++) {
      const bus = await scope.bus();
      buses.push(bus);
      subscriptions.push(await scope.subscribe(bus, topic, { group, maxInFlight: 4 }, handler));
    }
    const published = await publisher.publishMany(
      topic,
      Array.from({ length: 300 }, (_, index) => envelope(`s-${index % 11}`, index)),
    );
    await waitFor(() => seen.size >= 20, waitLong);
    await Promise.all([
      ...subscriptions.map((subscription) => subscription.close()),
      ...subscriptions.map((subscription) => subscription.close()),
      ...buses.map((bus) => bus.close()),
      ...buses.map((bus) => bus.close()),
    ]);
    const error = await buses[0]!.publish(topic, envelope('s', 'late')).catch((caught: unknown) => caught);
    expect(WoodworkBusError.isInstance(error) && error.code).toBe('WW_BUS_CLOSED');
    const rest = await scope.bus();
    await scope.subscribe(rest, topic, { group, maxInFlight: 8 }, handler);
    await waitFor(() => published.every((item) => seen.has(item.message_id)), {
      ...waitLong,
      message: () => `${published.filter((item) => !seen.has(item.message_id)).length} never handled`,
    });
  });

  scenario('hundreds-of-nacks', 'keeps consuming after hundreds of failed tries', async (scope) => {
    const topic = scope.topic('manynacks');
    const bus = await scope.bus();
    const failures = new Set<string>();
    const done = new Set<string>();
    await scope.subscribe(
      bus,
      topic,
      { group: scope.group('a'), maxInFlight: 16, maxAttempts: 3, backoff: QUICK_BACKOFF },
      (envelope, context) => {
        if (context.attempt === 1) {
          failures.add(envelope.message_id);
          throw new Error('nak');
        }
        done.add(envelope.message_id);
      },
    );
    const published = await bus.publishMany(
      topic,
      Array.from({ length: 400 }, (_, index) => envelope(`s-${index % 50}`, index)),
    );
    await waitFor(() => done.size === published.length, { ...waitLong, message: () => `${done.size}/${published.length}` });
    expect(failures.size).toBe(published.length);
    expect(await collect(bus.deadLetters(topic, scope.group('a')))).toEqual([]);
  });

  scenario('queue-depth', "counts a group's unacknowledged messages, the same from every bus, down to 0", async (scope) => {
    const topic = scope.topic('depth');
    const group = scope.group('workers');
    const consumer = await scope.bus();
    const observer = await scope.bus();
    const depth = async (bus: Bus): Promise<number> => {
      const value = await bus.queueDepth(topic, group);
      if (value === undefined) throw new Error(`${bus.adapterName} cannot tell a queue depth: implement doQueueDepth (adapter spec v1.3) or skip 'queue-depth'`);
      return value;
    };
    expect(await depth(observer)).toBe(0);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let started = 0;
    let handled = 0;
    await scope.subscribe(consumer, topic, { group, maxInFlight: 2 }, async () => {
      started++;
      await gate;
      handled++;
    });
    // Another group on the same topic: its count is its own.
    const otherGroup = scope.group('audit');
    let audited = 0;
    await scope.subscribe(consumer, topic, { group: otherGroup }, () => {
      audited++;
    });
    await observer.publishMany(
      topic,
      Array.from({ length: 10 }, (_, index) => envelope(`session-${index}`, index)),
    );
    try {
      await waitFor(() => started === 2 && audited === 10, { ...waitLong, message: () => `${started} started, ${audited} audited` });
      // 2 in handlers and 8 not handed out: all 10 unacknowledged, as seen from either bus.
      expect(await depth(observer)).toBe(10);
      expect(await depth(consumer)).toBe(10);
      await waitFor(async () => (await observer.queueDepth(topic, otherGroup)) === 0, { ...waitLong, intervalMs: 100, message: 'the audit group never got to 0' });
    } finally {
      // Also on failure: a handler left waiting would hold the scope's close for its drain timeout.
      release();
    }
    await waitFor(() => handled === 10, { ...waitLong, message: () => `${handled}/10 handled` });
    let last = -1;
    await waitFor(async () => (last = await depth(observer)) === 0, { ...waitLong, intervalMs: 100, message: () => `depth still ${last} after every message was handled` });
  });

  scenario(
    'synchronous-burst',
    'takes a burst of 20,000 with a synchronous handler and maxInFlight 10,000 without exhausting the stack',
    async (scope) => {
      // A handler that returns at once settles each message while the adapter is still handing
      // out the previous ones; an adapter that hands out the next one from inside that settle
      // recurses once per message, and a big maxInFlight lets thousands queue up for it.
      const topic = scope.topic('burst');
      const consumer = await scope.bus();
      const publisher = await scope.bus();
      const handled = new Set<string>();
      const errors: unknown[] = [];
      // What this scenario checks is the stack, not the clock: a broker on a loaded machine may
      // confirm acks or renew leases late while 20,000 records go through, which adapters report
      // as retryable WW_BUS_CONNECTION warnings. Those are let through; any other error fails.
      const onError = (error: unknown) => {
        if (WoodworkBusError.isInstance(error) && error.code === 'WW_BUS_CONNECTION' && error.isRetryable) return;
        errors.push(error);
      };
      await scope.subscribe(consumer, topic, { group: scope.group('a'), maxInFlight: 10_000, onError }, (envelope) => {
        handled.add(envelope.message_id);
      });
      const batches = await Promise.all(
        Array.from({ length: 10 }, (_, batch) =>
          publisher.publishMany(
            topic,
            Array.from({ length: 2_000 }, (_, index) => envelope(`s-${batch * 2_000 + index}`, index)),
          ),
        ),
      );
      const published = batches.flat();
      await waitFor(() => handled.size === published.length || errors.length > 0, {
        ...waitLong,
        message: () => `${handled.size}/${published.length} handled`,
      });
      expect(errors.map(String)).toEqual([]);
      expect(handled).toEqual(new Set(published.map((item) => item.message_id)));
    },
  );

  scenario('session-order', 'keeps per-session order over 1,000 messages across 3 competing instances', async (scope) => {
    const topic = scope.topic('order');
    const group = scope.group('a');
    const sessions = 20;
    const total = 1_000;
    const order = new Map<string, number[]>();
    const active = new Set<string>();
    let overlaps = 0;
    const seen = new Set<string>();
    for (let member = 0; member < 3; member++) {
      const bus = await scope.bus();
      await scope.subscribe<{ sequence: number }>(bus, topic, { group, maxInFlight: 8 }, async (envelope) => {
        const session = envelope.session_id;
        if (active.has(session)) overlaps++;
        active.add(session);
        if (Math.random() < 0.3) await sleep(Math.random() * 3);
        else await Promise.resolve();
        if (!seen.has(envelope.message_id)) {
          seen.add(envelope.message_id);
          const list = order.get(session) ?? [];
          list.push(envelope.payload.sequence);
          order.set(session, list);
        }
        active.delete(session);
      });
    }
    const publisher = await scope.bus();
    const counters = new Array<number>(sessions).fill(0);
    for (let start = 0; start < total; start += 100) {
      await publisher.publishMany(
        topic,
        Array.from({ length: 100 }, (_, offset) => {
          const session = (start + offset) % sessions;
          return envelope(`session-${session}`, { sequence: counters[session]!++ });
        }),
      );
    }
    await waitFor(() => seen.size === total, { ...waitLong, message: () => `${seen.size}/${total}` });
    expect(overlaps).toBe(0);
    for (const [session, sequence] of order) {
      expect(sequence, session).toEqual(Array.from({ length: total / sessions }, (_, index) => index));
    }
  });

  scenario('publisher-close', 'loses nothing published before the publisher closes', async (scope) => {
    const topic = scope.topic('pubclose');
    const publisher = await options.createBus();
    const pending = Array.from({ length: 500 }, (_, index) => publisher.publish(topic, envelope(`s-${index % 5}`, index)));
    await publisher.close();
    const published = await Promise.all(pending);
    const consumer = await scope.bus();
    const seen = new Set<string>();
    await scope.subscribe(consumer, topic, { group: scope.group('a'), fromBeginning: true }, (envelope) => {
      seen.add(envelope.message_id);
    });
    await waitFor(() => published.every((item) => seen.has(item.message_id)), {
      ...waitLong,
      message: () => `${seen.size}/${published.length}`,
    });
  });

  scenario('topic-isolation', 'delivers a topic’s messages to its subscribers only', async (scope) => {
    const topicA = scope.topic('iso-a');
    const topicB = scope.topic('iso-b');
    const bus = await scope.bus();
    const got: string[] = [];
    await scope.subscribe(bus, topicA, { group: scope.group('a') }, (envelope) => {
      got.push(String(envelope.payload));
    });
    await bus.publish(topicB, envelope('s', 'b-1'));
    await bus.publish(topicA, envelope('s', 'a-1'));
    await bus.publish(topicB, envelope('s', 'b-2'));
    await bus.publish(topicA, envelope('s', 'a-2'));
    await waitFor(() => got.length >= 2, waitLong);
    await sleep(200);
    expect(got).toEqual(['a-1', 'a-2']);
  });

  scenario('fan-out-groups', 'gives every message to each of two groups', async (scope) => {
    const topic = scope.topic('fanout');
    const bus = await scope.bus();
    const byGroup = [new Set<string>(), new Set<string>()];
    for (const index of [0, 1]) {
      await scope.subscribe(bus, topic, { group: scope.group(`g${index}`) }, (envelope) => {
        byGroup[index]!.add(envelope.message_id);
      });
    }
    const published = await bus.publishMany(
      topic,
      Array.from({ length: 200 }, (_, index) => envelope(`s-${index % 3}`, index)),
    );
    await waitFor(() => byGroup.every((seen) => seen.size === published.length), {
      ...waitLong,
      message: () => byGroup.map((seen) => seen.size).join('/'),
    });
  });

  scenario(
    'new-group-old-messages',
    'lets a new group read messages published before it existed',
    async (scope) => {
      const topic = scope.topic('oldmsgs');
      const publisher = await scope.bus();
      const old = await publisher.publishMany(
        topic,
        Array.from({ length: 50 }, (_, index) => envelope(`s-${index % 4}`, index)),
      );
      const consumer = await scope.bus();
      const fromStart: string[] = [];
      await scope.subscribe(consumer, topic, { group: scope.group('late'), fromBeginning: true }, (envelope) => {
        fromStart.push(envelope.message_id);
      });
      await waitFor(() => fromStart.length >= old.length, { ...waitLong, message: () => `${fromStart.length}/50` });
      expect(new Set(fromStart)).toEqual(new Set(old.map((item) => item.message_id)));
      const fromEnd: string[] = [];
      await scope.subscribe(consumer, topic, { group: scope.group('tail'), fromBeginning: false }, (envelope) => {
        fromEnd.push(envelope.message_id);
      });
      const fresh = await publisher.publish(topic, envelope('s-new', 'new'));
      await waitFor(() => fromEnd.length >= 1, waitLong);
      await sleep(200);
      expect(fromEnd).toEqual([fresh.message_id]);
    },
    capabilities.replay ? undefined : 'adapter keeps no log',
  );

  scenario(
    'replay-session',
    'replays one session’s events from the log, in order',
    async (scope) => {
      const topic = scope.topic('replay');
      const bus = await scope.bus();
      const published = await bus.publishMany(
        topic,
        Array.from({ length: 30 }, (_, index) => envelope(`session-${index % 3}`, { index })),
      );
      const wanted = published.filter((item) => item.session_id === 'session-1');
      const replayed = await waitFor(
        async () => {
          const items = await collect(bus.replay(topic, { sessionId: 'session-1' }));
          return items.length >= wanted.length ? items : undefined;
        },
        waitLong,
      );
      expect(replayed.map((item) => item.envelope.message_id)).toEqual(wanted.map((item) => item.message_id));
      expect(replayed.every((item) => item.envelope.session_id === 'session-1')).toBe(true);
      expect(JSON.parse(JSON.stringify(replayed[0]!.envelope))).toEqual(JSON.parse(JSON.stringify(wanted[0])));
      // The whole topic: everything, each session in order. Order across sessions is not
      // promised (partitioned logs keep order per partition, and sessions are the partition key).
      const all = await collect(bus.replay(topic));
      expect(new Set(all.map((item) => item.envelope.message_id))).toEqual(new Set(published.map((item) => item.message_id)));
      for (const session of ['session-0', 'session-1', 'session-2']) {
        expect(all.filter((item) => item.envelope.session_id === session).map((item) => item.envelope.message_id)).toEqual(
          published.filter((item) => item.session_id === session).map((item) => item.message_id),
        );
      }
      // Resuming a session's replay after a position it gave.
      const after = await collect(bus.replay(topic, { sessionId: 'session-1', afterPosition: replayed[3]!.position }));
      expect(after.map((item) => item.envelope.message_id)).toEqual(wanted.slice(4).map((item) => item.message_id));
    },
    capabilities.replay ? undefined : 'adapter keeps no log',
  );

  scenario('dead-letter-redrive', 'dead-letters after maxAttempts with the evidence, then re-drives', async (scope) => {
    const topic = scope.topic('dlq');
    const group = scope.group('a');
    const bus = await scope.bus();
    let healthy = false;
    const handled: Envelope[] = [];
    const tries = new Map<string, number>();
    await scope.subscribe(bus, topic, { group, maxAttempts: 3, backoff: QUICK_BACKOFF }, (envelope) => {
      if (envelope.session_id === 'bad' && !healthy) {
        tries.set(envelope.message_id, (tries.get(envelope.message_id) ?? 0) + 1);
        throw new WoodworkBusError('WW_BUS_HANDLER_FAILED', 'boom');
      }
      handled.push(envelope);
    });
    const bad = await bus.publish(topic, envelope('bad', { poison: true }));
    const after = await bus.publish(topic, envelope('bad', { behind: true }));
    const good = await bus.publish(topic, envelope('good', { fine: true }));
    const letters = await waitFor(
      async () => {
        const found = await collect(bus.deadLetters(topic, group));
        return found.length >= 2 ? found : undefined;
      },
      { ...waitLong, message: 'no dead letters' },
    );
    const letter = letters.find((item) => item.envelope?.message_id === bad.message_id) as DeadLetter;
    expect(letter).toBeDefined();
    expect(JSON.parse(JSON.stringify(letter.envelope))).toEqual(JSON.parse(JSON.stringify(bad)));
    expect(letter.attempts).toBe(3);
    expect(tries.get(bad.message_id)).toBe(3);
    expect(letter.lastError.message).toBe('boom');
    expect(letter.lastError.code).toBe('WW_BUS_HANDLER_FAILED');
    expect(letter.topic).toBe(topic);
    expect(letter.group).toBe(group);
    expect(letter.rawBody).toBeNull();
    expect(Date.parse(letter.deadLetteredAt)).not.toBeNaN();
    // The session's next message waited behind the failing one (order held), then failed alike.
    expect(letters[0]!.envelope?.message_id).toBe(bad.message_id);
    expect(letters[1]!.envelope?.message_id).toBe(after.message_id);
    await waitFor(() => handled.some((item) => item.message_id === good.message_id), waitLong);
    // The dead letters are envelopes on their own topic, readable by any consumer.
    if (capabilities.replay) {
      const raw = await collect(bus.replay(deadLetterTopic(topic, group)));
      expect(raw.map((item) => item.envelope.event_type)).toEqual([DEAD_LETTER_EVENT_TYPE, DEAD_LETTER_EVENT_TYPE]);
      expect(raw[0]!.envelope.session_id).toBe('bad');
    }
    healthy = true;
    expect(await bus.redrive(topic, group, [letter.id])).toBe(1);
    await waitFor(
      () => handled.some((item) => (item.payload as { poison?: boolean }).poison === true),
      { ...waitLong, message: 're-driven message never handled' },
    );
    const redriven = handled.find((item) => (item.payload as { poison?: boolean }).poison === true)!;
    expect(redriven.session_id).toBe('bad');
    expect(redriven.attempt).toBe(1);
    const remaining = await collect(bus.deadLetters(topic, group));
    expect(remaining.map((item) => item.envelope?.message_id)).toEqual([after.message_id]);
    expect(await bus.redrive(topic, group)).toBe(1);
    await waitFor(() => handled.some((item) => (item.payload as { behind?: boolean }).behind === true), waitLong);
    expect(await collect(bus.deadLetters(topic, group))).toEqual([]);
    expect(await bus.redrive(topic, group)).toBe(0);
  });

  scenario(
    'malformed-record',
    'dead-letters a malformed wire record with the reason and keeps consuming',
    async (scope) => {
      const topic = scope.topic('malformed');
      const group = scope.group('a');
      const bus = await scope.bus();
      const handled: string[] = [];
      await scope.subscribe(bus, topic, { group, maxAttempts: 2, backoff: QUICK_BACKOFF }, (envelope) => {
        handled.push(envelope.message_id);
      });
      const encoder = new TextEncoder();
      await options.publishRaw!(topic, encoder.encode('this is {not json'), 'raw-1');
      await options.publishRaw!(topic, encoder.encode(JSON.stringify({ message_id: 'm', session_id: '' })), 'raw-2');
      const good = await bus.publish(topic, envelope('s', 'after the garbage'));
      await waitFor(() => handled.includes(good.message_id), { ...waitLong, message: 'consumer stopped after garbage' });
      const letters = await waitFor(
        async () => {
          const found = await collect(bus.deadLetters(topic, group));
          return found.length >= 2 ? found : undefined;
        },
        { ...waitLong, message: 'malformed records were not dead-lettered' },
      );
      const notJson = letters.find((item) => item.rawBody === 'this is {not json')!;
      expect(notJson).toBeDefined();
      expect(notJson.envelope).toBeNull();
      expect(notJson.lastError.code).toBe('WW_BUS_INVALID_ENVELOPE');
      expect(notJson.lastError.message).toMatch(/not JSON/);
      const badShape = letters.find((item) => item.rawBody?.includes('"session_id":""'))!;
      expect(badShape).toBeDefined();
      expect(badShape.lastError.message).toMatch(/session_id/);
      expect(await bus.redrive(topic, group)).toBe(0);
    },
    options.publishRaw ? undefined : 'no publishRaw option',
  );

  scenario('deduplication', 'removes duplicates by message_id', async (scope) => {
    const topic = scope.topic('dedup');
    const bus = await scope.bus();
    const handled: string[] = [];
    await scope.subscribe(bus, topic, { group: scope.group('a') }, (envelope) => {
      handled.push(envelope.message_id);
    });
    const id = randomUUID();
    const first = await bus.publish(topic, envelope('s', 'once', { message_id: id }));
    await bus.publish(topic, envelope('s', 'once', { message_id: id }));
    await bus.publishMany(topic, [envelope('s', 'once', { message_id: id }), envelope('s', 'other')]);
    await bus.publish(topic, { ...first });
    const last = await bus.publish(topic, envelope('s', 'marker'));
    await waitFor(() => handled.includes(last.message_id), waitLong);
    await sleep(100);
    expect(handled.filter((value) => value === id)).toHaveLength(1);
    expect(handled).toHaveLength(3);
  });

  scenario(
    'broker-restart',
    'loses nothing acknowledged when the broker restarts in the middle of 10,000 publishes',
    async (scope) => {
      const topic = scope.topic('restart');
      const group = scope.group('a');
      const publisher = await scope.bus();
      const consumer = await scope.bus();
      const seen = new Set<string>();
      await scope.subscribe(consumer, topic, { group, maxInFlight: 64 }, (envelope) => {
        seen.add(envelope.message_id);
      });
      const total = 10_000;
      const batchSize = 50;
      const ids: string[] = [];
      const sessionOf = new Map<string, string>();
      let rejected = 0;
      let restart: Promise<void> | undefined;
      for (let start = 0; start < total; start += batchSize) {
        const batch = Array.from({ length: batchSize }, (_, offset) =>
          envelope(`s-${(start + offset) % 13}`, start + offset, { message_id: randomUUID() }),
        );
        if (start === 3_000) restart = options.restartBroker!();
        // A rejected publish is the caller's to retry: nothing was silently dropped.
        await waitFor(
          async () => {
            try {
              await publisher.publishMany(topic, batch);
              return true;
            } catch (error) {
              rejected++;
              if (!WoodworkBusError.isInstance(error) || !error.isRetryable) throw error;
              return false;
            }
          },
          { timeoutMs, intervalMs: 100, message: 'publishing never recovered after the restart' },
        );
        ids.push(...batch.map((item) => item.message_id!));
        for (const item of batch) sessionOf.set(item.message_id!, item.session_id);
      }
      await restart;
      const lostPerSession = () => {
        const lost = new Map<string, number>();
        for (const id of ids) if (!seen.has(id)) lost.set(sessionOf.get(id)!, (lost.get(sessionOf.get(id)!) ?? 0) + 1);
        return [...lost].map(([session, count]) => `${session}: ${count}`).join(', ');
      };
      await waitFor(() => ids.every((id) => seen.has(id)), {
        timeoutMs,
        message: () =>
          `${ids.filter((id) => !seen.has(id)).length} of ${total} lost (${rejected} rejected publishes); lost per session: ${lostPerSession()}`,
      });
      await waitFor(async () => (await consumer.health()).ready, waitLong);
    },
    !capabilities.persistent ? 'adapter is not persistent' : options.restartBroker ? undefined : 'no restartBroker option',
    Math.max(timeoutMs, 120_000),
  );

  scenario('backpressure', 'bounds the producer while a consumer lags', async (scope) => {
    const topic = scope.topic('backpressure');
    const group = scope.group('slow');
    const consumer = await scope.bus();
    const release = gate();
    const seen = new Set<string>();
    await scope.subscribe(consumer, topic, { group, maxInFlight: 2 }, async (envelope) => {
      await release.promise;
      seen.add(envelope.message_id);
    });
    const publisher = await scope.bus();
    if (backpressure.kind === 'blocking-publish') {
      const total = backpressure.maxBacklog * 3;
      let published = 0;
      const producing = (async () => {
        for (let start = 0; start < total; start += 10) {
          await publisher.publishMany(
            topic,
            Array.from({ length: 10 }, (_, offset) => envelope(`s-${(start + offset) % 17}`, start + offset)),
          );
          published += 10;
        }
      })();
      // Wait until the producer stops making progress, then check where it stopped.
      let last = -1;
      await waitFor(
        () => {
          const stalled = published === last && published > 0;
          last = published;
          return stalled;
        },
        { ...waitLong, intervalMs: 250 },
      );
      expect(published).toBeLessThan(total);
      expect(published).toBeLessThanOrEqual(backpressure.maxBacklog + 10);
      release.open();
      await producing;
      await waitFor(() => seen.size === total, { ...waitLong, message: () => `${seen.size}/${total}` });
      return;
    }
    const count = 8_000;
    const payload = 'x'.repeat(4_096);
    // The gate opens whatever happens, so a failed assertion reports itself instead of hanging close().
    try {
      const before = await retainedBytes();
      let peak = 0;
      for (let start = 0; start < count; start += 100) {
        await publisher.publishMany(
          topic,
          Array.from({ length: 100 }, (_, offset) => envelope(`s-${(start + offset) % 17}`, { n: start + offset, payload })),
        );
        if (start % 2_000 === 0) peak = Math.max(peak, (await retainedBytes()) - before);
      }
      peak = Math.max(peak, (await retainedBytes()) - before);
      const publishedBytes = count * payload.length;
      // Under stress other scenarios share this heap, so its growth says nothing about this one.
      if (!stress) {
        expect(peak, `retained ${peak} bytes while ${publishedBytes} were published`).toBeLessThan(
          backpressure.maxGrowthBytes ?? publishedBytes / 2,
        );
      }
    } finally {
      release.open();
    }
    await waitFor(() => seen.size === count, { ...waitLong, message: () => `${seen.size}/${count}` });
  });
}

function pickContext(context: DeliveryContext): DeliveryContext {
  return {
    topic: context.topic,
    group: context.group,
    attempt: context.attempt,
    position: context.position,
    signal: context.signal,
  };
}
