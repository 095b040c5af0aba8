// The keys every processing component accepts for containing failures (`timeout`, `retry`,
// `circuit_breaker`, `fallback`, `max_concurrency`): what `woodwork validate` says about them.
import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../src/index.js';
import { check } from './support.js';

const component = (body: string) => check(`t = transform echo {\n${body}\n}\n`);

describe('resilience keys', () => {
  it('normalise durations to milliseconds and keep what was written, nothing more', () => {
    const { topology, diagnostics } = component(
      'timeout = "90s"\nretry = { attempts = 4, backoff = "100ms", max_backoff = 2000, jitter = 0 }\ncircuit_breaker = { failures = 3, window = "1m", cooldown = "1.5s" }\nfallback = { text = "busy" }\nmax_concurrency = 2',
    );
    expect(diagnostics).toEqual([]);
    expect(topology.components[0]!.config).toEqual({
      prefix: '',
      timeout: 90_000,
      retry: { attempts: 4, backoff: 100, max_backoff: 2_000, jitter: 0 },
      circuit_breaker: { failures: 3, window: 60_000, cooldown: 1_500 },
      fallback: { text: 'busy' },
      max_concurrency: 2,
    });
  });

  it('take the short spellings: "off", a number of attempts, false', () => {
    const { topology, diagnostics } = component('timeout = "off"\nretry = 1\ncircuit_breaker = false\nfallback = "try later"');
    expect(diagnostics).toEqual([]);
    expect(topology.components[0]!.config).toMatchObject({ timeout: 0, retry: 1, circuit_breaker: false, fallback: 'try later' });
  });

  it('report a duration that is not one, out-of-range values and wrong types, each at its place', () => {
    const { diagnostics } = component('timeout = "30 sec"\nretry = { attempts = 0 }\nmax_concurrency = 0\nfallback = 3\ncircuit_breaker = { cooldown = "0s" }');
    expect(diagnostics.map((d) => [d.code, d.message, d.line])).toEqual([
      ['WW218', '`timeout` must be a duration, found "30 sec"', 2],
      ['WW218', '`retry.attempts` must be at least 1, found 0', 3],
      ['WW218', '`max_concurrency` must be at least 1, found 0', 4],
      ['WW209', '`fallback` expects a string or a map { … }, found the number 3', 5],
      ['WW218', '`circuit_breaker.cooldown` must be at least 1 ms, found "0s"', 6],
    ]);
    expect(diagnostics[0]!.hint).toContain('"30s"');
  });

  it('apply to every kind that takes the common keys, not to bus or vm', () => {
    const { diagnostics } = check('b = bus memory { timeout = "1s" }\nm = memory short_term { timeout = "1s" }\n');
    expect(diagnostics.map((d) => [d.code, d.message])).toEqual([['WW207', 'unknown key `timeout` for `bus memory` `b`']]);
  });
});

describe('parseDuration', () => {
  it('reads milliseconds and units, and nothing else', () => {
    expect([30000, '30000', '500ms', '30s', '1.5m', '1h', '10_000', ' 2s '].map((value) => parseDuration(value))).toEqual([
      30_000, 30_000, 500, 30_000, 90_000, 3_600_000, 10_000, 2_000,
    ]);
    expect(['30 sec', '-1s', '', 'off', true, null, -5].map((value) => parseDuration(value))).toEqual([undefined, undefined, undefined, undefined, undefined, undefined, undefined]);
    expect([parseDuration('off', { off: true }), parseDuration(false, { off: true })]).toEqual([0, 0]);
    expect([250, 30_000, 1_500, 300_000, 3_600_000].map(formatDuration)).toEqual(['250 ms', '30 s', '1.5 s', '5 min', '1 h']);
  });
});
