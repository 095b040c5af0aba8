/**
 * What the console shows live of each component — its instances, counters and metrics over the
 * last minutes — gathered in the console's process whatever runs the components:
 *
 * - embedded (`woodwork dev`): the runtime's own hosts (`runtime.stats()`), one instance each;
 * - distributed (`woodwork up --console`): the host registry, where every process of the
 *   namespace (this `up`'s, other machines', containers') writes its state and counters every few
 *   seconds: a component's instances are the live records that run it.
 *
 * Handling times, tokens and cost come from the `metrics.component_performance` events on the
 * events topic (the console turns them on: `dev --console` in its runtime, `up --console` in its
 * processes), and agent steps from the `agent.step_complete` events, read by a subscription of the
 * console's own group, so every process's events are seen.
 *
 * An agent calls its model in its own host, inside its own handling, so that handling's event
 * carries the model's tokens and cost: they are charged to the llm the agent names (`model =
 * my_llm`), as they are when the llm is called on its own, and each of the agent's steps is a call
 * of that llm's model. The agent keeps its steps and its handling times.
 */
import { componentPerformanceEventType, type ComponentPerformancePayload } from '@woodwork/metrics';
import type { Topology } from '@woodwork/parser';
import { EventTypes, eventsTopic, type Runtime } from '@woodwork/runtime';
import { isStaleRecord, type HostRecord } from '@woodwork/runtime/distributed';
import { CounterDeltas, MetricsWindow, type MetricsSnapshot, type MetricsWindowOptions } from './metrics.js';

/** Where the instances of a distributed topology are listed: the host registry (`createRedisHostRegistry`). */
export interface HostsSource {
  list(): Promise<readonly HostRecord[]>;
}

export interface InstanceView {
  readonly instance: string;
  readonly hostname: string;
  readonly pid: number;
  readonly state: HostRecord['state'];
  /** Epoch ms of its last heartbeat. */
  readonly heartbeat_at: number;
}

/** A component's live state, as the page shows it on its node and in its detail. */
export interface ComponentLive {
  /** Live instances: the processes that run it (embedded: 1 while the runtime hosts it). */
  readonly instances: number;
  /** Those of them ready to take work. */
  readonly ready: number;
  readonly handled: number;
  readonly failed: number;
  /** The broker's count of its inbox's unacknowledged messages (the same for every instance); null when unknown. */
  readonly queue_depth: number | null;
  /** Distributed only: each instance. */
  readonly hosts?: readonly InstanceView[];
}

export interface LiveState extends AsyncDisposable {
  /** `registry` when the instances come from the host registry, `embedded` from this process's runtime. */
  readonly source: 'embedded' | 'registry';
  components(): Record<string, ComponentLive>;
  metrics(now?: number): MetricsSnapshot;
  /** Reads the counters now (the timer does it every `intervalMs`). */
  sample(): Promise<void>;
  close(): Promise<void>;
}

export interface LiveStateOptions {
  /** Distributed: the registry to count instances and read counters in. Default: the runtime's own hosts. */
  readonly hosts?: HostsSource;
  /** How often counters are read. Default 2 000 ms. */
  readonly intervalMs?: number;
  readonly window?: MetricsWindowOptions;
  /** Called with a registry that cannot be read (the last state is kept). */
  readonly onError?: (error: unknown) => void;
}

/** The llm whose model the component `name` calls in its own host (an agent's `model = my_llm`); undefined for anything else. */
function modelOf(topology: Topology, name: string): string | undefined {
  const reference = topology.components.find((component) => component.name === name)?.config.model;
  const target = typeof reference === 'object' && reference !== null && '$ref' in reference ? String(reference.$ref) : undefined;
  return target !== undefined && topology.components.some((component) => component.name === target && component.kind === 'llm') ? target : undefined;
}

export async function startLiveState(runtime: Runtime, options: LiveStateOptions = {}): Promise<LiveState> {
  const startedAt = Date.now();
  const window = new MetricsWindow({ startedAt, ...options.window });
  const counters = new CounterDeltas();
  let current: Record<string, ComponentLive> = {};
  for (const component of runtime.topology.components) window.known(component.name);

  const subscription = await runtime.bus.subscribe<unknown>(
    eventsTopic(runtime.namespace),
    { group: `console-${runtime.instanceId}`, fromBeginning: false, maxInFlight: 1024, maxAttempts: 1, onError: () => undefined },
    (envelope) => {
      const source = envelope.component_source;
      const at = Math.min(Date.now(), Date.parse(envelope.timestamp) || Date.now());
      if (envelope.event_type === EventTypes.agentStepComplete) {
        window.agentStep(source, at);
        const model = modelOf(runtime.topology, source);
        if (model !== undefined) window.modelUsage(model, at, {}, 1);
        return;
      }
      if (envelope.event_type !== componentPerformanceEventType) return;
      const payload = envelope.payload as Partial<ComponentPerformancePayload> | null;
      if (typeof payload?.processing_time_ms !== 'number') return;
      window.handling(source, at, payload.processing_time_ms);
      const tokens = payload.tokens_processed ?? null;
      if (tokens === null && payload.cost_estimate == null) return;
      // Events of before the split carry only the total: counted as input.
      const input = payload.input_tokens ?? (payload.output_tokens == null ? tokens : null);
      const usage = { inputTokens: input, outputTokens: payload.output_tokens ?? null, cost: payload.cost_estimate ?? null };
      const model = modelOf(runtime.topology, source);
      // An llm's own handling is one call of its model; an agent's counts its calls by its steps.
      if (model === undefined) window.modelUsage(source, at, usage, 1);
      else window.modelUsage(model, at, usage);
    },
  );

  const fromRuntime = (): Record<string, ComponentLive> => {
    const now = Date.now();
    const running = runtime.state === 'running' ? 1 : 0;
    const live: Record<string, ComponentLive> = {};
    for (const [name, stats] of Object.entries(runtime.stats())) {
      // A component rebuilt by a reload starts again from 0: CounterDeltas reads that as a reset.
      window.count(name, now, { handled: counters.delta(`${name}/handled`, stats.handled), failed: counters.delta(`${name}/failed`, stats.failed) });
      live[name] = { instances: 1, ready: running, handled: stats.handled, failed: stats.failed, queue_depth: stats.queueDepth };
    }
    return live;
  };

  const fromRegistry = async (hosts: HostsSource): Promise<Record<string, ComponentLive>> => {
    const records = (await hosts.list()).filter((record) => !isStaleRecord(record));
    const now = Date.now();
    const live: Record<string, { instances: number; ready: number; handled: number; failed: number; queue_depth: number | null; hosts: InstanceView[] }> = {};
    for (const record of records) {
      for (const name of record.components) {
        const entry = (live[name] ??= { instances: 0, ready: 0, handled: 0, failed: 0, queue_depth: null, hosts: [] });
        entry.instances++;
        if (record.state === 'ready') entry.ready++;
        entry.hosts.push({ instance: record.instance, hostname: record.hostname, pid: record.pid, state: record.state, heartbeat_at: record.heartbeatAt });
        const stats = record.stats[name];
        if (!stats) continue;
        entry.handled += stats.handled;
        entry.failed += stats.failed;
        // One inbox, one group: every instance reads the same depth; the newest is as good as any.
        if (typeof stats.queueDepth === 'number') entry.queue_depth = Math.max(entry.queue_depth ?? 0, stats.queueDepth);
        // A process that started after the console did: everything it counted is new.
        const fresh = record.startedAt >= startedAt;
        window.count(name, now, {
          handled: counters.delta(`${record.instance}/${name}/handled`, stats.handled, fresh),
          failed: counters.delta(`${record.instance}/${name}/failed`, stats.failed, fresh),
        });
      }
    }
    counters.sweep();
    return live;
  };

  const sample = async () => {
    try {
      current = options.hosts ? await fromRegistry(options.hosts) : fromRuntime();
    } catch (error) {
      options.onError?.(error);
    }
  };
  await sample();
  let sampling: Promise<void> | undefined;
  const timer = setInterval(() => {
    sampling ??= sample().finally(() => (sampling = undefined));
  }, options.intervalMs ?? 2_000);
  timer.unref();

  let closed: Promise<void> | undefined;
  const close = () =>
    (closed ??= (async () => {
      clearInterval(timer);
      await sampling;
      await subscription.close().catch(() => undefined);
    })());

  return {
    source: options.hosts ? 'registry' : 'embedded',
    components: () => {
      // Every component of the topology, with 0 instances where nothing runs it.
      const all: Record<string, ComponentLive> = {};
      for (const component of runtime.topology.components) all[component.name] = current[component.name] ?? { instances: 0, ready: 0, handled: 0, failed: 0, queue_depth: null, ...(options.hosts ? { hosts: [] } : {}) };
      for (const [name, live] of Object.entries(current)) all[name] ??= live;
      return all;
    },
    metrics: (now) => window.snapshot(now),
    sample,
    close,
    [Symbol.asyncDispose]: close,
  };
}
