/**
 * The emitter contract: what a component host (and a component's own code) calls to measure its
 * work. Every method records through `@opentelemetry/api` instruments created once, with attribute
 * objects bound once, so with nothing configured a measurement is a call into the API's noop
 * instrument and costs a few nanoseconds; with an SDK, whatever the SDK's aggregation costs.
 *
 * Units follow OpenTelemetry: durations are seconds, sizes bytes. The bus event carries the
 * design document's units (milliseconds, MiB) instead.
 */
import type { Context, MeterProvider, Span, TracerProvider } from '@opentelemetry/api';

import type { IngestionClient } from './enterprise.js';
import type { ComponentPerformanceEvent, PublishFunction } from './events.js';
import type { MetricsLogger } from './logger.js';
import type { ModelPrice, PriceTable, TokenUsage } from './pricing.js';
import type { EnvelopeTrace } from './trace-context.js';

export interface MetricsEmitterOptions {
  /**
   * The component's name in the `.ww` file (`agent_001`): the `woodwork.component.name` attribute
   * of every instrument and span, and the `component_source` of every event. Required.
   */
  readonly component: string;
  /**
   * The custom metrics the component's `.ww` block declares
   * (`metrics = { custom_metrics = ["token_count"] }`). Only these names can be recorded: an
   * undeclared name throws `WW_METRICS_UNDECLARED_CUSTOM_METRIC` (a typo caught by the first
   * test run beats a metric silently missing from a dashboard). Default: none.
   */
  readonly customMetrics?: readonly string[];
  /**
   * Default: the global MeterProvider of `@opentelemetry/api`, read once, here. It is the noop
   * provider (emission to the void) unless the application called `startTelemetry` (or registered
   * an SDK of its own) before creating the emitter.
   */
  readonly meterProvider?: MeterProvider;
  /** Default: the global TracerProvider (a proxy, so a later registration is still picked up). */
  readonly tracerProvider?: TracerProvider;
  /**
   * Bus events: when set, every ended step publishes a `metrics.component_performance` event.
   * Default: off, because it is one more bus message per step.
   */
  readonly events?: {
    /** `bus.publish.bind(bus)`, or any function of the same shape. */
    readonly publish: PublishFunction;
    /** Default `woodwork.metrics`. */
    readonly topic?: string;
  };
  /**
   * The enterprise ingestion client (`loadIngestionClient`); it receives every event, whether or
   * not bus events are on. Default: none. The emitter does not close it: its owner does.
   */
  readonly ingestion?: IngestionClient | null;
  /** Prices laid over the built-in table (`defaultPrices`), per provider and model. */
  readonly prices?: PriceTable;
  /**
   * Observe the process's resident memory as `process.memory.usage`. Registered once per
   * MeterProvider however many emitters a process has (embedded mode runs many). Default true.
   */
  readonly observeProcessMemory?: boolean;
  /** Default: the OpenTelemetry diagnostic logger (`diag`), silent unless an app sets one. */
  readonly logger?: MetricsLogger;
}

/** GenAI operation names from the semantic conventions (others are allowed). */
export type GenAIOperationName =
  | 'chat'
  | 'text_completion'
  | 'generate_content'
  | 'embeddings'
  | 'execute_tool'
  | 'invoke_agent'
  | 'create_agent'
  | (string & {});

export interface ModelOptions {
  /** `gen_ai.provider.name`; the `.ww` llm type works (`claude` is reported as `anthropic`). */
  readonly provider: string;
  /** `gen_ai.request.model`, e.g. `gpt-4o-mini`; also the price table key. */
  readonly model: string;
  /** `gen_ai.operation.name`. Default `chat`. */
  readonly operation?: GenAIOperationName;
}

/** Measurements of one model (provider, model, operation), bound once: hold on to it. */
export interface ModelMetrics {
  readonly provider: string;
  readonly model: string;
  readonly operation: string;
  /** The price used for cost estimates, or null when the table has none for this model. */
  readonly price: ModelPrice | null;
  /**
   * Records `gen_ai.client.token.usage` (input and output) and adds the estimated cost to
   * `woodwork.gen_ai.cost`. Returns the cost in US dollars, or null when the price is unknown.
   * Inside a step, use `step.recordUsage` so the step's event carries the tokens and cost.
   */
  recordUsage(usage: TokenUsage): number | null;
  /** `gen_ai.client.operation.duration`; `errorType` (`error.type`) only when the call failed. */
  recordDuration(seconds: number, errorType?: string): void;
  /** `gen_ai.client.operation.time_to_first_chunk`, for streaming calls only. */
  recordTimeToFirstChunk(seconds: number): void;
  /** `gen_ai.client.operation.time_per_output_chunk`, for each chunk after the first. */
  recordTimePerOutputChunk(seconds: number): void;
}

/** One declared custom metric, resolved once (no name lookup per measurement). */
export interface CustomMetric {
  readonly name: string;
  record(value: number): void;
}

export interface StepOptions {
  /** The session of the message being processed. Required. */
  readonly sessionId: string;
  /** The consumed envelope's `trace`: the step's span becomes its child. */
  readonly trace?: EnvelopeTrace | null;
  /** The consumed envelope's `event_type`, as a span attribute. */
  readonly eventType?: string;
  /** The consumed envelope's `message_id`, as a span attribute. */
  readonly messageId?: string;
  /** Span name. Default `step <component>`. */
  readonly spanName?: string;
}

/**
 * One step: a component processing one message. Starting it opens a span and counts the message
 * in flight; ending it records the processing time, closes the span and, when configured, emits
 * the `metrics.component_performance` event.
 */
export interface MetricsStep {
  readonly sessionId: string;
  /** The step's span (a non-recording one when no tracing is configured). */
  readonly span: Span;
  /** A context with the step's span: run child work in it (`context.with(step.context, …)`). */
  readonly context: Context;
  /** The value for the `trace` field of every envelope this step publishes. */
  trace(): EnvelopeTrace | null;
  /** `ModelMetrics.recordUsage`, and the tokens and cost count toward this step's event. */
  recordUsage(model: ModelMetrics, usage: TokenUsage): number | null;
  /** Records a declared custom metric; the step's event carries the last value per name. */
  recordCustom(name: string, value: number): void;
  /**
   * Ends the step (again: no effect). With `error`, the span's status is ERROR and the duration
   * carries `error.type`. Returns the event it emitted, or null when events are off.
   */
  end(options?: { readonly error?: unknown }): ComponentPerformanceEvent | null;
}

/** A circuit breaker's state, as `woodwork.component.circuit.state` records it (0, 1, 2). */
export type CircuitState = 'closed' | 'half_open' | 'open';

export interface MetricsEmitter {
  readonly component: string;
  readonly customMetrics: readonly string[];
  /** Bound handle for one model; cached, so calling it again with the same options is cheap. */
  model(options: ModelOptions): ModelMetrics;
  /** A declared custom metric's handle. Throws `WW_METRICS_UNDECLARED_CUSTOM_METRIC`. */
  customMetric(name: string): CustomMetric;
  /** Records a declared custom metric outside any step. Throws like `customMetric`. */
  recordCustom(name: string, value: number): void;
  /** `woodwork.component.processing.duration`, for work measured outside `startStep`. */
  recordProcessingTime(seconds: number, errorType?: string): void;
  /** `woodwork.component.queue.depth`: the inbox's unacknowledged messages, as read from the broker. */
  recordQueueDepth(depth: number): void;
  /** `woodwork.component.connections`: `+1` when a client connection opens, `-1` when it closes. */
  recordConnections(delta: number): void;
  /** `woodwork.component.messages.retries`: one retry (a delivery with attempt > 1). */
  recordRetry(): void;
  /** `woodwork.component.messages.dead_lettered`: one message given up on. */
  recordDeadLetter(): void;
  /** `woodwork.component.timeouts`: one handling aborted for running past the component's `timeout`. */
  recordTimeout(): void;
  /** `woodwork.component.fallbacks`: one message answered with the component's `fallback`. */
  recordFallback(): void;
  /** `woodwork.component.circuit.state`: the state a downstream's circuit breaker moved to. */
  recordCircuitState(downstream: string, state: CircuitState): void;
  /** `woodwork.component.messages.waiting`: `+1` when a message starts waiting for a concurrency slot, `-1` when it gets one. */
  recordWaiting(delta: number): void;
  /** `woodwork.stream.chunk.latency`: produced-to-consumed time of one stream chunk. */
  recordChunkLatency(seconds: number): void;
  startStep(options: StepOptions): MetricsStep;
  /**
   * Runs `work` as a step, in the step's context, and ends it with the outcome (a thrown error
   * ends it with `error` and is rethrown).
   */
  runStep<Result>(options: StepOptions, work: (step: MetricsStep) => Result | Promise<Result>): Promise<Result>;
  /** Resolves when every event publish and ingest started so far has settled. */
  flush(): Promise<void>;
}
