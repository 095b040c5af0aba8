/**
 * The design document's `metrics.component_performance` event: one per finished step, in the
 * design's field layout, published on the bus and handed to the enterprise ingestion client when
 * they are configured. Nothing here imports `@woodwork/bus`: the event is a structural
 * `EnvelopeInit`, and publishing goes through a function the host passes in (`bus.publish`).
 */

import type { EnvelopeTrace } from './trace-context.js';

export const componentPerformanceEventType = 'metrics.component_performance';

/** Where the events go on the bus unless `events.topic` says otherwise. */
export const defaultMetricsTopic = 'woodwork.metrics';

export interface ComponentPerformancePayload {
  /** Wall time of the step, in milliseconds (microsecond precision). */
  processing_time_ms: number;
  /** Resident set size of the host process at the end of the step (read at most every 500 ms), in MiB, two decimals. */
  memory_usage_mb: number;
  /** Input plus output tokens recorded in the step, or null when no model call was recorded. */
  tokens_processed: number | null;
  /** The input (prompt) part of `tokens_processed`, or null with it. Not in the design document: the console's tokens in/out. */
  input_tokens: number | null;
  /** The output (completion) part of `tokens_processed`, or null with it. */
  output_tokens: number | null;
  /** Estimated cost in US dollars of the model calls recorded in the step, or null when unknown. */
  cost_estimate: number | null;
  /** The last value recorded in the step for each declared custom metric. */
  custom_metrics: Record<string, number>;
}

/** The event; also a valid `EnvelopeInit` for `@woodwork/bus` (the bus fills the other fields). */
export interface ComponentPerformanceEvent {
  session_id: string;
  event_type: typeof componentPerformanceEventType;
  component_source: string;
  /** ISO 8601, when the step ended. */
  timestamp: string;
  payload: ComponentPerformancePayload;
  /** The step's W3C trace context (its span), when the step has a valid one: the incoming message's trace or a configured tracer's. */
  trace?: EnvelopeTrace;
}

/**
 * Publishes one envelope to a topic; `bus.publish.bind(bus)` fits. Its result (usually a promise)
 * is awaited by `emitter.flush()`, and a failure is logged, never thrown into the step.
 */
export type PublishFunction = (topic: string, event: ComponentPerformanceEvent) => unknown;
