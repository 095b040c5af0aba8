/**
 * W3C Trace Context in the envelope's `trace` field, so one session's path across processes is
 * one trace: a host extracts the context of the message it consumes, starts its step span as a
 * child of it, and injects the step's context into every envelope it publishes.
 *
 * The `traceparent` format is implemented here (it is a few lines) instead of going through the
 * globally registered propagator: the envelope field is W3C by contract whatever propagator an
 * application configures for HTTP, and the library entry depends on `@opentelemetry/api` only.
 * Tests check it against `W3CTraceContextPropagator` from `@opentelemetry/core`.
 */
import {
  type Context,
  type SpanContext,
  context as contextApi,
  createTraceState,
  isSpanContextValid,
  trace as traceApi,
} from '@opentelemetry/api';

/** The envelope's `trace` field (`@woodwork/bus` `EnvelopeTrace`, repeated structurally). */
export interface EnvelopeTrace {
  traceparent: string;
  tracestate?: string;
}

const traceparentPattern = /^([\da-f]{2})-([\da-f]{32})-([\da-f]{16})-([\da-f]{2})(-.*)?$/;
const allZeroTraceId = '0'.repeat(32);
const allZeroSpanId = '0'.repeat(16);

/**
 * Parses a `traceparent` header value into a remote span context, or null when it is not valid
 * per the W3C Trace Context spec (version `ff`, all-zero ids, uppercase hex, wrong length; a
 * version-00 value with trailing data). Later versions may carry trailing fields, which are ignored.
 */
export function parseTraceparent(traceparent: string, tracestate?: string): SpanContext | null {
  const match = traceparentPattern.exec(traceparent.trim());
  if (!match) return null;
  const [, version, traceId, spanId, flags, rest] = match as unknown as [string, string, string, string, string, string?];
  if (version === 'ff' || (version === '00' && rest !== undefined)) return null;
  if (traceId === allZeroTraceId || spanId === allZeroSpanId) return null;
  const spanContext: SpanContext = { traceId, spanId, traceFlags: Number.parseInt(flags, 16), isRemote: true };
  if (tracestate) spanContext.traceState = createTraceState(tracestate);
  return spanContext;
}

/** Formats a span context as a version-00 `traceparent`. */
export function formatTraceparent(spanContext: SpanContext): string {
  const flags = (spanContext.traceFlags & 0xff).toString(16).padStart(2, '0');
  return `00-${spanContext.traceId}-${spanContext.spanId}-${flags}`;
}

/**
 * The envelope `trace` value for the span active in `context` (default: the active context), or
 * null when there is no valid span — with no tracing configured and no incoming trace, there is
 * nothing to carry.
 */
export function injectTraceContext(context: Context = contextApi.active()): EnvelopeTrace | null {
  const spanContext = traceApi.getSpanContext(context);
  if (!spanContext || !isSpanContextValid(spanContext)) return null;
  const traceparent = formatTraceparent(spanContext);
  const tracestate = spanContext.traceState?.serialize();
  return tracestate ? { traceparent, tracestate } : { traceparent };
}

/**
 * A context whose parent span is the one described by an envelope's `trace` field, built on
 * `base` (default: the active context). An absent or invalid `trace` gives `base` unchanged, so
 * a malformed header starts a new trace instead of failing the message.
 */
export function extractTraceContext(
  trace: EnvelopeTrace | null | undefined,
  base: Context = contextApi.active(),
): Context {
  if (!trace || typeof trace.traceparent !== 'string') return base;
  const spanContext = parseTraceparent(trace.traceparent, trace.tracestate);
  return spanContext ? traceApi.setSpanContext(base, spanContext) : base;
}
