/**
 * `createMetricsEmitter`: the implementation of the contract in types.ts. Instruments are created
 * once per emitter and every attribute object is built once (per model, per token type, per error
 * type), so the hot path allocates nothing.
 */
import {
  type Attributes,
  type Context,
  type Counter,
  type Gauge,
  type Histogram,
  type Meter,
  type MeterProvider,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  type UpDownCounter,
  context as contextApi,
  metrics as metricsApi,
  trace as traceApi,
} from '@opentelemetry/api';

import { WoodworkMetricsError } from './errors.js';
import {
  type ComponentPerformanceEvent,
  type PublishFunction,
  componentPerformanceEventType,
  defaultMetricsTopic,
} from './events.js';
import type { IngestionClient } from './enterprise.js';
import { type InstrumentDescriptor, attributeKeys, customInstrumentName, instrumentCatalogue } from './instruments.js';
import { type MetricsLogger, defaultLogger } from './logger.js';
import { type ResolvedPrice, type TokenUsage, createPriceLookup, normalizeProviderName } from './pricing.js';
import { extractTraceContext, injectTraceContext } from './trace-context.js';
import type {
  CircuitState,
  CustomMetric,
  MetricsEmitter,
  MetricsEmitterOptions,
  MetricsStep,
  ModelMetrics,
  ModelOptions,
  StepOptions,
} from './types.js';

const scopeName = '@woodwork/metrics';
/** A gauge needs numbers; ordered so that a dashboard's "max over instances" shows the worst. */
const circuitStateValues: Readonly<Record<CircuitState, number>> = { closed: 0, half_open: 1, open: 2 };
const customNamePattern = /^[A-Za-z][A-Za-z0-9_.-]*$/;
/** Distinct `error.type` values kept per instrument before folding the rest into `_OTHER`. */
const maxErrorTypes = 32;
const memoryObservedProviders = new WeakSet<MeterProvider>();

/** Reading the RSS is a /proc read (~8 µs on Linux), so events reuse a reading for this long. */
const memoryReadingMaxAgeMs = 500;
let memoryReadAt = Number.NEGATIVE_INFINITY;
let memoryMegabytes = 0;
function memoryUsageMegabytes(now: number): number {
  if (now - memoryReadAt >= memoryReadingMaxAgeMs) {
    memoryReadAt = now;
    memoryMegabytes = Math.round((process.memoryUsage.rss() / 1048576) * 100) / 100;
  }
  return memoryMegabytes;
}

function histogram(meter: Meter, descriptor: InstrumentDescriptor, name = descriptor.name): Histogram {
  return meter.createHistogram(name, {
    description: descriptor.description,
    unit: descriptor.unit,
    ...(descriptor.buckets ? { advice: { explicitBucketBoundaries: [...descriptor.buckets] } } : {}),
  });
}

/** The `error.type` of a failure: a string `code` (our errors), else the error's class name. */
export function errorTypeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code.length > 0) return code;
  if (error instanceof Error && error.name) return error.name;
  return '_OTHER';
}

/** Attribute sets with an `error.type` added, built once per distinct type. */
class ErrorAttributes {
  private readonly byType = new Map<string, Attributes>();
  constructor(private readonly base: Attributes) {}
  get(errorType: string): Attributes {
    let attributes = this.byType.get(errorType);
    if (!attributes) {
      const key = this.byType.size < maxErrorTypes ? errorType : '_OTHER';
      attributes = this.byType.get(key) ?? { ...this.base, [attributeKeys.errorType]: key };
      this.byType.set(key, attributes);
    }
    return attributes;
  }
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

class ModelMetricsImpl implements ModelMetrics {
  readonly price: ResolvedPrice | null;
  private readonly attributes: Attributes;
  private readonly inputAttributes: Attributes;
  private readonly outputAttributes: Attributes;
  private readonly errors: ErrorAttributes;

  constructor(
    private readonly emitter: Emitter,
    readonly provider: string,
    readonly model: string,
    readonly operation: string,
    price: ResolvedPrice | null,
  ) {
    this.price = price;
    this.attributes = {
      [attributeKeys.operationName]: operation,
      [attributeKeys.providerName]: provider,
      [attributeKeys.requestModel]: model,
      [attributeKeys.component]: emitter.component,
    };
    this.inputAttributes = { ...this.attributes, [attributeKeys.tokenType]: 'input' };
    this.outputAttributes = { ...this.attributes, [attributeKeys.tokenType]: 'output' };
    this.errors = new ErrorAttributes(this.attributes);
  }

  /** Records the usage; returns the cost in picodollars, or -1 when the price is unknown. */
  recordUsagePicodollars(usage: TokenUsage): number {
    const instruments = this.emitter.instruments;
    instruments.tokenUsage.record(usage.inputTokens, this.inputAttributes);
    instruments.tokenUsage.record(usage.outputTokens, this.outputAttributes);
    const price = this.price;
    if (price === null) return -1;
    const picodollars =
      usage.inputTokens * price.inputPicodollarsPerToken + usage.outputTokens * price.outputPicodollarsPerToken;
    instruments.cost.add(picodollars / 1e12, this.attributes);
    return picodollars;
  }

  recordUsage(usage: TokenUsage): number | null {
    const picodollars = this.recordUsagePicodollars(usage);
    return picodollars < 0 ? null : picodollars / 1e12;
  }

  recordDuration(seconds: number, errorType?: string): void {
    this.emitter.instruments.operationDuration.record(
      seconds,
      errorType === undefined ? this.attributes : this.errors.get(errorType),
    );
  }

  recordTimeToFirstChunk(seconds: number): void {
    this.emitter.instruments.timeToFirstChunk.record(seconds, this.attributes);
  }

  recordTimePerOutputChunk(seconds: number): void {
    this.emitter.instruments.timePerOutputChunk.record(seconds, this.attributes);
  }
}

class CustomMetricImpl implements CustomMetric {
  constructor(
    readonly name: string,
    private readonly instrument: Histogram,
    private readonly attributes: Attributes,
  ) {}
  record(value: number): void {
    this.instrument.record(value, this.attributes);
  }
}

class Step implements MetricsStep {
  readonly span: Span;
  readonly context: Context;
  private readonly startedAt = performance.now();
  private ended = false;
  private tokens = -1;
  private inputTokens = 0;
  private outputTokens = 0;
  private picodollars = -1;
  private custom: Record<string, number> | null = null;

  constructor(
    private readonly emitter: Emitter,
    readonly sessionId: string,
    options: StepOptions,
  ) {
    const parent = extractTraceContext(options.trace, contextApi.active());
    const attributes: Attributes = {
      [attributeKeys.component]: emitter.component,
      [attributeKeys.sessionId]: sessionId,
    };
    if (options.eventType !== undefined) attributes[attributeKeys.eventType] = options.eventType;
    if (options.messageId !== undefined) attributes[attributeKeys.messageId] = options.messageId;
    this.span = emitter.tracer.startSpan(
      options.spanName ?? emitter.spanName,
      { kind: SpanKind.CONSUMER, attributes },
      parent,
    );
    this.context = traceApi.setSpan(parent, this.span);
    emitter.instruments.inFlight.add(1, emitter.attributes);
  }

  trace() {
    return injectTraceContext(this.context);
  }

  recordUsage(model: ModelMetrics, usage: TokenUsage): number | null {
    const picodollars =
      model instanceof ModelMetricsImpl ? model.recordUsagePicodollars(usage) : toPicodollars(model.recordUsage(usage));
    this.tokens = (this.tokens < 0 ? 0 : this.tokens) + usage.inputTokens + usage.outputTokens;
    this.inputTokens += usage.inputTokens;
    this.outputTokens += usage.outputTokens;
    if (picodollars < 0) return null;
    this.picodollars = (this.picodollars < 0 ? 0 : this.picodollars) + picodollars;
    return picodollars / 1e12;
  }

  recordCustom(name: string, value: number): void {
    this.emitter.customMetric(name).record(value);
    (this.custom ??= {})[name] = value;
  }

  end(options?: { readonly error?: unknown }): ComponentPerformanceEvent | null {
    if (this.ended) return null;
    this.ended = true;
    const endedAt = performance.now();
    const elapsedMs = endedAt - this.startedAt;
    const emitter = this.emitter;
    const failed = options !== undefined && 'error' in options;
    emitter.instruments.inFlight.add(-1, emitter.attributes);
    if (failed) {
      const error = options.error;
      emitter.recordProcessingTime(elapsedMs / 1000, errorTypeOf(error));
      if (error instanceof Error) this.span.recordException(error);
      this.span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
    } else {
      emitter.instruments.processingDuration.record(elapsedMs / 1000, emitter.attributes);
    }
    this.span.end();
    if (!emitter.eventsEnabled) return null;
    const event: ComponentPerformanceEvent = {
      session_id: this.sessionId,
      event_type: componentPerformanceEventType,
      component_source: emitter.component,
      timestamp: new Date().toISOString(),
      payload: {
        processing_time_ms: Math.round(elapsedMs * 1000) / 1000,
        memory_usage_mb: memoryUsageMegabytes(endedAt),
        tokens_processed: this.tokens < 0 ? null : this.tokens,
        input_tokens: this.tokens < 0 ? null : this.inputTokens,
        output_tokens: this.tokens < 0 ? null : this.outputTokens,
        cost_estimate: this.picodollars < 0 ? null : this.picodollars / 1e12,
        custom_metrics: this.custom ?? {},
      },
    };
    // The step's own trace context, so a backend (or the console) finds the span of this step.
    const trace = this.trace();
    if (trace) event.trace = trace;
    emitter.emit(event);
    return event;
  }
}

function toPicodollars(cost: number | null): number {
  return cost === null ? -1 : Math.round(cost * 1e12);
}

class Emitter implements MetricsEmitter {
  readonly component: string;
  readonly customMetrics: readonly string[];
  readonly attributes: Attributes;
  readonly tracer: Tracer;
  readonly spanName: string;
  readonly eventsEnabled: boolean;
  readonly instruments: {
    readonly processingDuration: Histogram;
    readonly inFlight: UpDownCounter;
    readonly queueDepth: Gauge;
    readonly connections: UpDownCounter;
    readonly retries: Counter;
    readonly deadLetters: Counter;
    readonly timeouts: Counter;
    readonly fallbacks: Counter;
    readonly circuitState: Gauge;
    readonly waiting: UpDownCounter;
    readonly chunkLatency: Histogram;
    readonly tokenUsage: Histogram;
    readonly operationDuration: Histogram;
    readonly timeToFirstChunk: Histogram;
    readonly timePerOutputChunk: Histogram;
    readonly cost: Counter;
  };
  private readonly errors: ErrorAttributes;
  private readonly models = new Map<string, ModelMetricsImpl>();
  private readonly downstreamAttributes = new Map<string, Attributes>();
  private readonly custom = new Map<string, CustomMetricImpl>();
  private readonly priceOf: (provider: string, model: string) => ResolvedPrice | null;
  private readonly publish: PublishFunction | null;
  private readonly topic: string;
  private readonly ingestion: IngestionClient | null;
  private readonly logger: MetricsLogger;
  private readonly pending = new Set<Promise<unknown>>();
  private readonly failuresReported = new Set<string>();

  constructor(options: MetricsEmitterOptions) {
    if (typeof options.component !== 'string' || options.component.length === 0) {
      throw new WoodworkMetricsError('WW_METRICS_INVALID_OPTION', 'createMetricsEmitter: component must be a non-empty string');
    }
    this.component = options.component;
    this.attributes = { [attributeKeys.component]: options.component };
    this.errors = new ErrorAttributes(this.attributes);
    this.spanName = `step ${options.component}`;
    this.logger = options.logger ?? defaultLogger();
    this.priceOf = createPriceLookup(options.prices);
    this.publish = options.events?.publish ?? null;
    this.topic = options.events?.topic ?? defaultMetricsTopic;
    this.ingestion = options.ingestion ?? null;
    this.eventsEnabled = this.publish !== null || this.ingestion !== null;
    if (options.events && typeof options.events.publish !== 'function') {
      throw new WoodworkMetricsError('WW_METRICS_INVALID_OPTION', 'createMetricsEmitter: events.publish must be a function');
    }

    const meterProvider = options.meterProvider ?? metricsApi.getMeterProvider();
    const meter = meterProvider.getMeter(scopeName);
    this.tracer = (options.tracerProvider ?? traceApi.getTracerProvider()).getTracer(scopeName);
    const catalogue = instrumentCatalogue;
    const about = (instrument: { readonly description: string; readonly unit: string }) => ({ description: instrument.description, unit: instrument.unit });
    this.instruments = {
      processingDuration: histogram(meter, catalogue.processingDuration),
      inFlight: meter.createUpDownCounter(catalogue.inFlight.name, about(catalogue.inFlight)),
      queueDepth: meter.createGauge(catalogue.queueDepth.name, about(catalogue.queueDepth)),
      connections: meter.createUpDownCounter(catalogue.connections.name, about(catalogue.connections)),
      retries: meter.createCounter(catalogue.retries.name, about(catalogue.retries)),
      deadLetters: meter.createCounter(catalogue.deadLetters.name, about(catalogue.deadLetters)),
      timeouts: meter.createCounter(catalogue.timeouts.name, about(catalogue.timeouts)),
      fallbacks: meter.createCounter(catalogue.fallbacks.name, about(catalogue.fallbacks)),
      circuitState: meter.createGauge(catalogue.circuitState.name, about(catalogue.circuitState)),
      waiting: meter.createUpDownCounter(catalogue.waiting.name, about(catalogue.waiting)),
      chunkLatency: histogram(meter, catalogue.chunkLatency),
      tokenUsage: histogram(meter, catalogue.tokenUsage),
      operationDuration: histogram(meter, catalogue.operationDuration),
      timeToFirstChunk: histogram(meter, catalogue.timeToFirstChunk),
      timePerOutputChunk: histogram(meter, catalogue.timePerOutputChunk),
      cost: meter.createCounter(catalogue.cost.name, about(catalogue.cost)),
    };

    const declared: string[] = [];
    for (const name of options.customMetrics ?? []) {
      if (typeof name !== 'string' || !customNamePattern.test(name) || customInstrumentName(name).length > 255) {
        throw new WoodworkMetricsError(
          'WW_METRICS_INVALID_OPTION',
          `custom metric name ${JSON.stringify(name)} of component ${this.component} must start with a letter and contain only letters, digits, "_", "." and "-"`,
        );
      }
      if (this.custom.has(name)) continue;
      declared.push(name);
      this.custom.set(
        name,
        new CustomMetricImpl(name, histogram(meter, catalogue.custom, customInstrumentName(name)), this.attributes),
      );
    }
    this.customMetrics = Object.freeze(declared);

    if ((options.observeProcessMemory ?? true) && !memoryObservedProviders.has(meterProvider)) {
      memoryObservedProviders.add(meterProvider);
      meter
        .createObservableUpDownCounter(catalogue.memoryUsage.name, {
          description: catalogue.memoryUsage.description,
          unit: catalogue.memoryUsage.unit,
        })
        .addCallback((result) => result.observe(process.memoryUsage.rss()));
    }
  }

  model(options: ModelOptions): ModelMetrics {
    const provider = normalizeProviderName(options.provider);
    const operation = options.operation ?? 'chat';
    const key = `${provider}\u0000${options.model}\u0000${operation}`;
    let model = this.models.get(key);
    if (!model) {
      model = new ModelMetricsImpl(this, provider, options.model, operation, this.priceOf(provider, options.model));
      this.models.set(key, model);
    }
    return model;
  }

  customMetric(name: string): CustomMetric {
    const metric = this.custom.get(name);
    if (metric) return metric;
    const closest = this.customMetrics
      .map((declared) => ({ declared, distance: editDistance(name, declared) }))
      .filter((candidate) => candidate.distance <= Math.max(2, Math.floor(name.length / 3)))
      .sort((a, b) => a.distance - b.distance)[0];
    const declaredList = this.customMetrics.length > 0 ? this.customMetrics.map((n) => `"${n}"`).join(', ') : 'none';
    throw new WoodworkMetricsError(
      'WW_METRICS_UNDECLARED_CUSTOM_METRIC',
      `custom metric "${name}" is not declared for component ${this.component} (declared: ${declaredList}).` +
        (closest ? ` Did you mean "${closest.declared}"?` : '') +
        ` Declare it in the component's .ww block: metrics = { custom_metrics = ["${name}"] }`,
    );
  }

  recordCustom(name: string, value: number): void {
    this.customMetric(name).record(value);
  }

  recordProcessingTime(seconds: number, errorType?: string): void {
    this.instruments.processingDuration.record(
      seconds,
      errorType === undefined ? this.attributes : this.errors.get(errorType),
    );
  }

  recordQueueDepth(depth: number): void {
    this.instruments.queueDepth.record(depth, this.attributes);
  }

  recordConnections(delta: number): void {
    this.instruments.connections.add(delta, this.attributes);
  }

  recordRetry(): void {
    this.instruments.retries.add(1, this.attributes);
  }

  recordDeadLetter(): void {
    this.instruments.deadLetters.add(1, this.attributes);
  }

  recordTimeout(): void {
    this.instruments.timeouts.add(1, this.attributes);
  }

  recordFallback(): void {
    this.instruments.fallbacks.add(1, this.attributes);
  }

  recordCircuitState(downstream: string, state: CircuitState): void {
    let attributes = this.downstreamAttributes.get(downstream);
    if (!attributes) {
      attributes = { ...this.attributes, [attributeKeys.downstream]: downstream };
      this.downstreamAttributes.set(downstream, attributes);
    }
    this.instruments.circuitState.record(circuitStateValues[state], attributes);
  }

  recordWaiting(delta: number): void {
    this.instruments.waiting.add(delta, this.attributes);
  }

  recordChunkLatency(seconds: number): void {
    this.instruments.chunkLatency.record(seconds, this.attributes);
  }

  startStep(options: StepOptions): MetricsStep {
    if (typeof options?.sessionId !== 'string' || options.sessionId.length === 0) {
      throw new WoodworkMetricsError('WW_METRICS_INVALID_OPTION', 'startStep: sessionId must be a non-empty string');
    }
    return new Step(this, options.sessionId, options);
  }

  async runStep<Result>(options: StepOptions, work: (step: MetricsStep) => Result | Promise<Result>): Promise<Result> {
    const step = this.startStep(options);
    let result: Result;
    try {
      result = await contextApi.with(step.context, work, undefined, step);
    } catch (error) {
      step.end({ error });
      throw error;
    }
    step.end();
    return result;
  }

  emit(event: ComponentPerformanceEvent): void {
    if (this.publish) this.track('publish', () => this.publish!(this.topic, event));
    if (this.ingestion) this.track('ingest', () => this.ingestion!.ingest(event));
  }

  private track(kind: string, send: () => unknown): void {
    let result: unknown;
    try {
      result = send();
    } catch (error) {
      this.failed(kind, error);
      return;
    }
    if (result !== null && typeof result === 'object' && typeof (result as PromiseLike<unknown>).then === 'function') {
      const settled: Promise<unknown> = Promise.resolve(result).then(
        () => this.pending.delete(settled),
        (error: unknown) => {
          this.pending.delete(settled);
          this.failed(kind, error);
        },
      );
      this.pending.add(settled);
    }
  }

  /** Logged at warn the first time per kind (publish, ingest), at debug after that. */
  private failed(kind: string, error: unknown): void {
    const message = `${this.component}: ${kind} of a ${componentPerformanceEventType} event failed; the event is dropped`;
    if (this.failuresReported.has(kind)) {
      this.logger.debug(message, error);
    } else {
      this.failuresReported.add(kind);
      this.logger.warn(`${message} (further failures are logged at debug)`, error);
    }
  }

  async flush(): Promise<void> {
    while (this.pending.size > 0) await Promise.all(this.pending);
  }
}

/** Creates the metrics emitter of one component (see `MetricsEmitterOptions`). */
export function createMetricsEmitter(options: MetricsEmitterOptions): MetricsEmitter {
  return new Emitter(options);
}
