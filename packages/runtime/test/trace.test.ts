import { describe, expect, it } from 'vitest';
import { newTrace, outgoingTrace, traceIdOf } from '../src/trace.js';

describe('outgoingTrace', () => {
  const incoming = newTrace();
  const child = { traceparent: `00-${traceIdOf(incoming)}-00f067aa0ba902b7-01` };
  const otherRoot = newTrace();

  it("passes the step's span context on while it stays in the turn's trace", () => {
    expect(outgoingTrace(child, incoming)).toBe(child);
  });

  it('keeps the incoming trace when the step has none (no tracing) or started a new one', () => {
    expect(outgoingTrace(null, incoming)).toBe(incoming);
    expect(outgoingTrace(otherRoot, incoming)).toBe(incoming);
    expect(outgoingTrace(otherRoot, null)).toBeNull();
    expect(outgoingTrace(otherRoot, { traceparent: 'garbage' })).toEqual({ traceparent: 'garbage' });
  });
});
