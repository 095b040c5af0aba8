/**
 * The console's metrics over the last minutes: a rolling window of fixed buckets (10 s, 90 of them:
 * 15 minutes by default) per component, fed with what the runtime already records (live.ts says
 * which component each figure is charged to) —
 *
 * - every handling's `metrics.component_performance` event (its processing time, tokens in and
 *   out, estimated cost): latency percentiles, and the model's tokens, cost and calls;
 * - every `agent.step_complete` event: an agent's steps, and its model's calls;
 * - the hosts' counters (`runtime.stats()` embedded, the registry's heartbeats distributed), as
 *   deltas: messages handled and failed.
 *
 * Percentiles are exact over the kept samples (nearest rank); a bucket keeps at most `maxSamples`
 * durations, a uniform reservoir beyond that, so a burst cannot grow the window without bound.
 */

export interface MetricsWindowOptions {
  /** Default 10 000 ms. */
  readonly bucketMs?: number;
  /** Buckets kept, the current one included. Default 90 (15 minutes of 10 s buckets). */
  readonly buckets?: number;
  /**
   * Buckets shown at least: a window younger than `buckets` starts where counting started (so a
   * console opened a minute ago charts that minute, not 14 empty ones), but spans at least these.
   * Default 12 (2 minutes of 10 s buckets).
   */
  readonly minBuckets?: number;
  /** Durations kept per bucket for the percentiles. Default 2 048. */
  readonly maxSamples?: number;
  /** When counting started (the rate of the last minute is over less than a minute before that). Default now. */
  readonly startedAt?: number;
  /** For tests: `Math.random` replacement for the reservoir. */
  readonly random?: () => number;
}

/** What model calls used, as a `metrics.component_performance` event tells it. */
export interface ModelUsageSample {
  readonly inputTokens?: number | null;
  readonly outputTokens?: number | null;
  readonly cost?: number | null;
}

interface Bucket {
  readonly index: number;
  /** Agent steps (`agent.step_complete`). */
  steps: number;
  /** Calls of this model (an llm's own handlings, and the steps of the agents it drives). */
  modelCalls: number;
  handled: number;
  failed: number;
  /** Handlings seen, for the reservoir (`durations` holds at most maxSamples of them). */
  sampled: number;
  readonly durations: number[];
  inputTokens: number;
  outputTokens: number;
  cost: number;
}

/** One component's series, one value per bucket (oldest first), and its totals over the window. */
export interface ComponentSeries {
  /** Messages handled per second in each bucket (the current one: per second so far). */
  readonly handled_per_s: number[];
  /** Messages failed per second in each bucket. */
  readonly errors_per_s: number[];
  /** Agent steps finished per second (`agent.step_complete`: one model call and the tool calls it asked for); 0 for what is not an agent. */
  readonly steps_per_s: number[];
  /** Processing time of the bucket's handlings (every try, calls included), in ms; null where there were none. */
  readonly p50_ms: (number | null)[];
  readonly p95_ms: (number | null)[];
  readonly p99_ms: (number | null)[];
  /**
   * Tokens and cost are the model's, charged to the llm component that made the calls — also when
   * an agent drives it (`agent llm { model = my_llm }`: `my_llm`'s, not the agent's).
   */
  readonly input_tokens: number[];
  readonly output_tokens: number[];
  /** Estimated US dollars. */
  readonly cost: number[];
  readonly totals: {
    readonly handled: number;
    readonly failed: number;
    /** Agent steps. */
    readonly steps: number;
    /** Calls of this llm's model: its own handlings that reported usage, and the steps of the agents it drives. */
    readonly model_calls: number;
    /** Messages handled per second over the last minute (or since counting started, when later). */
    readonly handled_per_s: number;
    readonly p50_ms: number | null;
    readonly p95_ms: number | null;
    readonly p99_ms: number | null;
    readonly input_tokens: number;
    readonly output_tokens: number;
    readonly cost: number;
  };
}

export interface MetricsSnapshot {
  readonly bucket_ms: number;
  /**
   * Each bucket's start, in epoch seconds (what uPlot's time axis takes), oldest first: the last
   * `buckets`, or since counting started when that is later (`minBuckets` at least).
   */
  readonly times: number[];
  readonly components: Record<string, ComponentSeries>;
}

/** The nearest-rank percentile of ascending `sorted` (p in 0..100); null when empty. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((Math.min(100, Math.max(0, p)) / 100) * sorted.length);
  return sorted[Math.max(0, rank - 1)]!;
}

const round = (value: number, digits: number) => Math.round(value * 10 ** digits) / 10 ** digits;

export class MetricsWindow {
  readonly bucketMs: number;
  readonly buckets: number;
  private readonly minBuckets: number;
  private readonly maxSamples: number;
  private readonly startedAt: number;
  private readonly random: () => number;
  private readonly byComponent = new Map<string, Map<number, Bucket>>();

  constructor(options: MetricsWindowOptions = {}) {
    this.bucketMs = options.bucketMs ?? 10_000;
    this.buckets = options.buckets ?? 90;
    this.minBuckets = Math.min(this.buckets, options.minBuckets ?? 12);
    this.maxSamples = options.maxSamples ?? 2_048;
    this.startedAt = options.startedAt ?? Date.now();
    this.random = options.random ?? Math.random;
  }

  /** A handling of `component` that took `durationMs`, ended at `atMs`. */
  handling(component: string, atMs: number, durationMs: number): void {
    const bucket = this.bucket(component, atMs);
    bucket.sampled++;
    if (bucket.durations.length < this.maxSamples) bucket.durations.push(durationMs);
    else {
      // Reservoir sampling: every handling of the bucket is kept with the same chance.
      const slot = Math.floor(this.random() * bucket.sampled);
      if (slot < this.maxSamples) bucket.durations[slot] = durationMs;
    }
  }

  /** Tokens and cost of model calls of the llm `component`, and how many calls (`calls`) they count as. */
  modelUsage(component: string, atMs: number, usage: ModelUsageSample, calls = 0): void {
    const bucket = this.bucket(component, atMs);
    bucket.modelCalls += calls;
    bucket.inputTokens += usage.inputTokens ?? 0;
    bucket.outputTokens += usage.outputTokens ?? 0;
    bucket.cost += usage.cost ?? 0;
  }

  /** A step of the agent `component`. */
  agentStep(component: string, atMs: number): void {
    this.bucket(component, atMs).steps++;
  }

  /** Messages of `component` handled and failed since the last count, counted at `atMs`. */
  count(component: string, atMs: number, delta: { readonly handled: number; readonly failed: number }): void {
    if (delta.handled <= 0 && delta.failed <= 0) {
      this.known(component);
      return;
    }
    const bucket = this.bucket(component, atMs);
    bucket.handled += Math.max(0, delta.handled);
    bucket.failed += Math.max(0, delta.failed);
  }

  /** A component to list even before it did anything. */
  known(component: string): void {
    if (!this.byComponent.has(component)) this.byComponent.set(component, new Map());
  }

  snapshot(nowMs: number = Date.now()): MetricsSnapshot {
    const current = Math.floor(nowMs / this.bucketMs);
    const first = Math.max(current - this.buckets + 1, Math.min(Math.floor(this.startedAt / this.bucketMs), current - this.minBuckets + 1));
    const times: number[] = [];
    for (let index = first; index <= current; index++) times.push((index * this.bucketMs) / 1000);
    // The current bucket is a rate over the part of it that has passed.
    const seconds = (index: number) => (index === current ? Math.max(1, (nowMs - index * this.bucketMs) / 1000) : this.bucketMs / 1000);
    const lastMinuteFrom = Math.floor((nowMs - 60_000) / this.bucketMs) + 1;
    const components: Record<string, ComponentSeries> = {};
    for (const [name, buckets] of [...this.byComponent].sort(([a], [b]) => a.localeCompare(b))) {
      for (const index of buckets.keys()) if (index < first) buckets.delete(index);
      const series = {
        handled_per_s: [] as number[],
        errors_per_s: [] as number[],
        steps_per_s: [] as number[],
        p50_ms: [] as (number | null)[],
        p95_ms: [] as (number | null)[],
        p99_ms: [] as (number | null)[],
        input_tokens: [] as number[],
        output_tokens: [] as number[],
        cost: [] as number[],
      };
      const all: number[] = [];
      let handled = 0;
      let failed = 0;
      let steps = 0;
      let modelCalls = 0;
      let inputTokens = 0;
      let outputTokens = 0;
      let cost = 0;
      let lastMinute = 0;
      for (let index = first; index <= current; index++) {
        const bucket = buckets.get(index);
        const span = seconds(index);
        const sorted = bucket ? [...bucket.durations].sort((a, b) => a - b) : [];
        series.handled_per_s.push(round((bucket?.handled ?? 0) / span, 3));
        series.errors_per_s.push(round((bucket?.failed ?? 0) / span, 3));
        series.steps_per_s.push(round((bucket?.steps ?? 0) / span, 3));
        for (const [key, p] of [['p50_ms', 50], ['p95_ms', 95], ['p99_ms', 99]] as const) {
          const value = percentile(sorted, p);
          series[key].push(value === null ? null : round(value, 3));
        }
        series.input_tokens.push(bucket?.inputTokens ?? 0);
        series.output_tokens.push(bucket?.outputTokens ?? 0);
        series.cost.push(round(bucket?.cost ?? 0, 9));
        if (!bucket) continue;
        all.push(...bucket.durations);
        handled += bucket.handled;
        failed += bucket.failed;
        steps += bucket.steps;
        modelCalls += bucket.modelCalls;
        inputTokens += bucket.inputTokens;
        outputTokens += bucket.outputTokens;
        cost += bucket.cost;
        if (index >= lastMinuteFrom) lastMinute += bucket.handled;
      }
      all.sort((a, b) => a - b);
      const minute = Math.max(1, Math.min(60, (nowMs - this.startedAt) / 1000));
      const at = (p: number) => {
        const value = percentile(all, p);
        return value === null ? null : round(value, 3);
      };
      components[name] = {
        ...series,
        totals: {
          handled,
          failed,
          steps,
          model_calls: modelCalls,
          handled_per_s: round(lastMinute / minute, 3),
          p50_ms: at(50),
          p95_ms: at(95),
          p99_ms: at(99),
          input_tokens: inputTokens,
          output_tokens: outputTokens,
          cost: round(cost, 9),
        },
      };
    }
    return { bucket_ms: this.bucketMs, times, components };
  }

  private bucket(component: string, atMs: number): Bucket {
    let buckets = this.byComponent.get(component);
    if (!buckets) this.byComponent.set(component, (buckets = new Map()));
    const index = Math.floor(atMs / this.bucketMs);
    let bucket = buckets.get(index);
    if (!bucket) {
      bucket = { index, steps: 0, modelCalls: 0, handled: 0, failed: 0, sampled: 0, durations: [], inputTokens: 0, outputTokens: 0, cost: 0 };
      buckets.set(index, bucket);
      // Old buckets go as new ones come, so a component nobody looks at does not grow either.
      for (const old of buckets.keys()) if (old <= index - this.buckets) buckets.delete(old);
    }
    return bucket;
  }
}

/**
 * Monotonic counters read again and again (a host's `handled`), turned into what happened since the
 * last read. A counter seen for the first time is a baseline (0), unless `fresh` (its host started
 * after counting did: all of it is new); a counter that went down was reset (a restarted host).
 */
export class CounterDeltas {
  private last = new Map<string, number>();
  private seen = new Set<string>();

  delta(key: string, value: number, fresh = false): number {
    this.seen.add(key);
    const last = this.last.get(key);
    this.last.set(key, value);
    if (last === undefined) return fresh ? value : 0;
    return value >= last ? value - last : value;
  }

  /** Forgets the counters not read since the last `sweep` (hosts that are gone). */
  sweep(): void {
    for (const key of this.last.keys()) if (!this.seen.has(key)) this.last.delete(key);
    this.seen = new Set();
  }
}
