/**
 * Turn identity. Every input starts a W3C trace (`traceparent`); every envelope of that turn carries
 * the same trace id, across components and processes, so the trace id names the turn: it is what
 * `turn.completed` and `TurnResult.turnId` refer to, and what tracing backends group spans by.
 */
import { randomUUID } from 'node:crypto';
import type { EnvelopeTrace } from '@woodwork/bus';

/**
 * A new root trace context (sampled). The ids come from `randomUUID`, which draws from a pooled
 * entropy cache (a `randomBytes` call per turn costs more than the rest of a hop).
 */
export function newTrace(): EnvelopeTrace {
  const traceId = randomUUID().replace(/-/g, '');
  const spanId = randomUUID().slice(0, 8) + randomUUID().slice(0, 8);
  return { traceparent: `00-${traceId}-${spanId}-01` };
}

/** A root trace context whose trace id is `turnId` (an input sent again as the same turn), with a new span. */
export function traceOfTurn(turnId: string): EnvelopeTrace {
  const spanId = randomUUID().slice(0, 8) + randomUUID().slice(0, 8);
  return { traceparent: `00-${turnId}-${spanId}-01` };
}

const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/;

/** The trace id (32 hex digits) of an envelope's trace, or undefined when it has none. */
export function traceIdOf(trace: EnvelopeTrace | null | undefined): string | undefined {
  if (!trace) return undefined;
  const match = TRACEPARENT.exec(trace.traceparent);
  return match?.[1];
}

/**
 * The `trace` of the envelopes a step publishes: the step's own span context (so the next hop's
 * span is its child, in this process or another), as long as it stays in the incoming turn's
 * trace. When it does not — an envelope without a trace, or with a malformed one, and tracing on,
 * so the step started a new root — the incoming value goes on, so the turn id stays what the
 * runtime counts branches by, whether or not tracing is configured.
 */
export function outgoingTrace(step: EnvelopeTrace | null, incoming: EnvelopeTrace | null): EnvelopeTrace | null {
  return step !== null && traceIdOf(step) === traceIdOf(incoming) ? step : incoming;
}
