import { ROOT_CONTEXT, type TextMapGetter, type TextMapSetter, TraceFlags, createTraceState, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { extractTraceContext, formatTraceparent, injectTraceContext, parseTraceparent } from '../src/index.js';

const reference = new W3CTraceContextPropagator();
const setter: TextMapSetter<Record<string, string>> = { set: (carrier, key, value) => void (carrier[key] = value) };
const getter: TextMapGetter<Record<string, string>> = {
  get: (carrier, key) => carrier[key],
  keys: (carrier) => Object.keys(carrier),
};

const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
const spanId = '00f067aa0ba902b7';

describe('traceparent', () => {
  it('parses and formats the W3C example', () => {
    const spanContext = parseTraceparent(`00-${traceId}-${spanId}-01`, 'congo=t61rcWkgMzE');
    expect(spanContext).toMatchObject({ traceId, spanId, traceFlags: TraceFlags.SAMPLED, isRemote: true });
    expect(spanContext?.traceState?.get('congo')).toBe('t61rcWkgMzE');
    expect(formatTraceparent(spanContext!)).toBe(`00-${traceId}-${spanId}-01`);
  });

  it.each([
    ['version ff', `ff-${traceId}-${spanId}-01`],
    ['all-zero trace id', `00-${'0'.repeat(32)}-${spanId}-01`],
    ['all-zero span id', `00-${traceId}-${'0'.repeat(16)}-01`],
    ['uppercase hex', `00-${traceId.toUpperCase()}-${spanId}-01`],
    ['short trace id', `00-${traceId.slice(1)}-${spanId}-01`],
    ['version 00 with trailing data', `00-${traceId}-${spanId}-01-extra`],
    ['garbage', 'not a traceparent'],
  ])('rejects %s', (_, value) => {
    expect(parseTraceparent(value)).toBeNull();
  });

  it('accepts a later version with trailing fields', () => {
    expect(parseTraceparent(`cc-${traceId}-${spanId}-01-what-the-future-holds`)).toMatchObject({ traceId, spanId });
  });

  it('formats exactly like the W3CTraceContextPropagator of @opentelemetry/core', () => {
    const hex = (length: number) =>
      fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: length, maxLength: length });
    fc.assert(
      fc.property(
        hex(32).filter((id) => !/^0+$/.test(id)),
        hex(16).filter((id) => !/^0+$/.test(id)),
        fc.constantFrom(TraceFlags.NONE, TraceFlags.SAMPLED),
        fc.option(fc.constantFrom('a=1', 'vendor=x,other=y', 'congo=t61rcWkgMzE'), { nil: undefined }),
        (traceIdValue, spanIdValue, traceFlags, traceState) => {
          const spanContext = {
            traceId: traceIdValue,
            spanId: spanIdValue,
            traceFlags,
            ...(traceState ? { traceState: createTraceState(traceState) } : {}),
          };
          const context = trace.setSpanContext(ROOT_CONTEXT, spanContext);
          const carrier: Record<string, string> = {};
          reference.inject(context, carrier, setter);
          expect(injectTraceContext(context)).toEqual(carrier);
        },
      ),
    );
  });

  it('extracts what the reference propagator extracts, and rejects what it rejects', () => {
    const nearlyValid = fc
      .tuple(
        fc.constantFrom('00', '01', 'ff', '0g', 'cc'),
        fc.constantFrom(traceId, '0'.repeat(32), traceId.slice(2), traceId.toUpperCase()),
        fc.constantFrom(spanId, '0'.repeat(16), spanId.slice(1)),
        fc.constantFrom('00', '01', '03', 'zz'),
        fc.constantFrom('', '-suffix'),
      )
      .map(([version, trace, span, flags, suffix]) => `${version}-${trace}-${span}-${flags}${suffix}`);
    fc.assert(
      fc.property(fc.oneof(nearlyValid, fc.string()), (traceparent) => {
        const expected = trace.getSpanContext(reference.extract(ROOT_CONTEXT, { traceparent }, getter)) ?? null;
        const actual = trace.getSpanContext(extractTraceContext({ traceparent }, ROOT_CONTEXT)) ?? null;
        expect(actual && { ...actual, traceState: undefined }).toEqual(expected && { ...expected, traceState: undefined });
      }),
      { numRuns: 500 },
    );
  });
});

describe('envelope trace field', () => {
  it('is null when there is no span to carry', () => {
    expect(injectTraceContext(ROOT_CONTEXT)).toBeNull();
  });

  it('round-trips through an envelope', () => {
    const incoming = { traceparent: `00-${traceId}-${spanId}-01`, tracestate: 'a=1' };
    expect(injectTraceContext(extractTraceContext(incoming, ROOT_CONTEXT))).toEqual(incoming);
  });

  it('leaves the base context as it is for a missing or malformed trace', () => {
    expect(extractTraceContext(null, ROOT_CONTEXT)).toBe(ROOT_CONTEXT);
    expect(extractTraceContext(undefined, ROOT_CONTEXT)).toBe(ROOT_CONTEXT);
    expect(extractTraceContext({ traceparent: 'garbage', tracestate: 'a=1' }, ROOT_CONTEXT)).toBe(ROOT_CONTEXT);
    expect(extractTraceContext({ traceparent: 42 } as never, ROOT_CONTEXT)).toBe(ROOT_CONTEXT);
  });
});
