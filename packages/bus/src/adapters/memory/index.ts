/**
 * `memory://[name]` — the embedded default bus: no dependencies, one process, fast. See
 * README.md beside this file for the options and what it does and does not promise.
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
import { closedError, memoryBroker } from './broker.js';
import type { MemoryBroker } from './broker.js';

export { deleteMemoryBroker } from './broker.js';

export interface MemoryAdapterOptions {
  /**
   * Records each topic's log keeps for `replay()` and for groups created later. Default 4 096:
   * enough to debug a recent session or resume a stream. Measured: with more than about 5 000
   * records alive per busy topic, V8 starts promoting every envelope to its old generation and
   * the embedded bus's throughput halves; raise it when you need a deeper log more than speed.
   * Trimming never drops work a group has not acknowledged.
   */
  readonly retention?: number;
  /**
   * Unacknowledged records one group with a live subscriber may hold before `publish` waits.
   * Default 10 000: a slow consumer slows its producer instead of growing memory without bound,
   * yet bursts well beyond `maxInFlight` are absorbed. A group with no live subscriber never holds
   * publishers back (it keeps its backlog, as a broker keeps a durable consumer's).
   */
  readonly maxBacklog?: number;
  /**
   * Hand subscribers the publisher's envelope object instead of a JSON copy. Default true: no
   * encoding or decoding at all, which is what makes the embedded bus fast. Handlers must then
   * treat envelopes as read-only, as with any in-process event bus. Set false (or
   * `memory://name?serialize=true`) to make every delivery a fresh JSON copy, as on a broker.
   */
  readonly passByReference?: boolean;
}

const CAPABILITIES: BusCapabilities = {
  persistent: false,
  replay: true,
  deliveryCount: true,
  publishDeduplication: false,
  crossProcess: false,
  leaseRenewal: true,
};

function integerOption(name: string, value: unknown, fallback: number): number {
  if (value === undefined || value === null || value === '') return fallback;
  const number = typeof value === 'string' ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isInteger(number) || number < 1) {
    throw new WoodworkBusError('WW_BUS_INVALID_OPTION', `memory bus option ${name} must be an integer >= 1; got ${String(value)}`);
  }
  return number;
}

/** Strips the in-process envelope so subscribers decode their own copy. */
function serialized(records: readonly WireRecord[]): WireRecord[] {
  return records.map((record) => ({ messageId: record.messageId, key: record.key, body: record.body }));
}

class MemoryAdapter implements BusAdapterV1 {
  readonly specificationVersion = 'v1' as const;
  readonly adapterName = 'memory';
  readonly capabilities = CAPABILITIES;
  private broker: MemoryBroker | undefined;
  private closed = false;
  private readonly subscriptions = new Set<AdapterSubscription>();

  constructor(
    private readonly brokerName: string,
    private readonly retention: number,
    private readonly maxBacklog: number,
    private readonly passByReference: boolean,
  ) {}

  private connected(): MemoryBroker {
    if (this.closed) throw closedError();
    return (this.broker ??= memoryBroker(this.brokerName, { retention: this.retention, maxBacklog: this.maxBacklog }));
  }

  doConnect(): Promise<void> {
    this.connected();
    return Promise.resolve();
  }

  doPublish(topic: string, records: readonly WireRecord[]): Promise<void> {
    let broker: MemoryBroker;
    let copies: readonly WireRecord[];
    try {
      broker = this.connected();
      copies = this.passByReference ? records : serialized(records);
    } catch (error) {
      return Promise.reject(error);
    }
    return broker.publish(topic, copies);
  }

  async doSubscribe(request: AdapterSubscribeRequest): Promise<AdapterSubscription> {
    const group = this.connected().topic(request.topic).group(request);
    const member = group.join(request);
    const subscription: AdapterSubscription = {
      close: async () => {
        this.subscriptions.delete(subscription);
        group.leave(member);
      },
    };
    this.subscriptions.add(subscription);
    return subscription;
  }

  async *doReplay(request: AdapterReplayRequest): AsyncIterable<ReplayedRecord> {
    const broker = this.connected();
    const topic = broker.topics.get(request.topic);
    if (topic === undefined) return;
    const after = request.afterPosition === undefined ? 0 : Number(request.afterPosition);
    if (!Number.isInteger(after) || after < 0) {
      throw new WoodworkBusError('WW_BUS_INVALID_OPTION', `memory bus positions are integers; got ${request.afterPosition}`);
    }
    for (const replayed of topic.read(after)) {
      if (request.key !== undefined && replayed.record.key !== request.key) continue;
      yield replayed;
    }
  }

  async doHealth(): Promise<BusHealth> {
    const up = !this.closed && this.broker !== undefined;
    return { connected: up, ready: up, adapter: 'memory', detail: `broker ${JSON.stringify(this.brokerName)}` };
  }

  async doQueueDepth(topic: string, group: string): Promise<number> {
    return this.broker?.topics.get(topic)?.groups.get(group)?.backlog ?? 0;
  }

  async doClose(): Promise<void> {
    if (this.closed) return;
    for (const subscription of [...this.subscriptions]) await subscription.close();
    this.closed = true;
  }
}

/**
 * `memory://` or `memory://name`: every adapter for the same name in one process shares one
 * broker (named `default` when the URL has none). Query parameters `retention`, `maxBacklog` and
 * `serialize=true` set the options; `options` passed in code win.
 */
export function createMemoryAdapter(url: URL, options: Readonly<Record<string, unknown>> = {}): BusAdapterV1 {
  const typed = options as MemoryAdapterOptions;
  const name = decodeURIComponent(url.host || url.pathname.replace(/^\/+/, '')) || 'default';
  const retention = integerOption('retention', typed.retention ?? url.searchParams.get('retention'), 4_096);
  const maxBacklog = integerOption('maxBacklog', typed.maxBacklog ?? url.searchParams.get('maxBacklog'), 10_000);
  const passByReference = typed.passByReference ?? url.searchParams.get('serialize') !== 'true';
  return new MemoryAdapter(name, retention, maxBacklog, passByReference);
}
