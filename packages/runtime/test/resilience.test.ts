/**
 * Failures contained per component: `timeout`, `retry`, `circuit_breaker` (the component's own and
 * `context.downstream()`), `fallback` and `max_concurrency`, as a user sees them — the turn's result,
 * the session's events, `runtime.stats()` and the metrics — on a real runtime (in-memory bus; one
 * case over Redis). Durations are small and nothing asserts on wall-clock time beyond order and counts.
 */
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { afterEach, describe, expect, it } from 'vitest';
import { createComponentRegistry, WoodworkRuntimeError, type Runtime, type SessionEvent, type TurnResult } from '../src/index.js';
import { silentLogger } from '../src/logger.js';
import { project, started, waitFor, type Project } from './helpers.js';

let current: Project | undefined;
let meterProvider: MeterProvider | undefined;
afterEach(async () => {
  await meterProvider?.shutdown();
  meterProvider = undefined;
  await current?.remove();
  current = undefined;
});

/** A MeterProvider whose points are read on demand. */
class CollectingReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
  /** The value of `name` for `component` (and the other attributes given). */
  async value(name: string, attributes: Record<string, string>): Promise<number | undefined> {
    const { resourceMetrics } = await this.collect();
    for (const scope of resourceMetrics.scopeMetrics) {
      for (const metric of scope.metrics) {
        if (metric.descriptor.name !== name) continue;
        const point = metric.dataPoints.find((candidate) => Object.entries(attributes).every(([key, value]) => candidate.attributes[key] === value));
        if (point && typeof point.value === 'number') return point.value;
      }
    }
    return undefined;
  }
}

function metrics(): CollectingReader {
  const reader = new CollectingReader();
  meterProvider = new MeterProvider({ readers: [reader] });
  return reader;
}

const retryable = (message: string) => Object.assign(new Error(message), { isRetryable: true });

/** One turn in a new session, with the session's events up to `turn.completed`. */
async function turn(runtime: Runtime, input: string): Promise<{ result: TurnResult; events: SessionEvent[]; types: string[] }> {
  const session = await runtime.session();
  const reading = (async () => {
    const events: SessionEvent[] = [];
    for await (const event of session.events()) {
      events.push(event);
      if (event.event_type === 'turn.completed') break;
    }
    return events;
  })();
  const result = await session.ask(input);
  const events = await reading;
  return { result, events, types: events.map((event) => event.event_type).filter((type) => type !== 'session.started') };
}

const payloadOf = (events: SessionEvent[], type: string) => events.find((event) => event.event_type === type)?.payload as Record<string, unknown> | undefined;

describe('failures contained per component', () => {
  it('aborts a handling that runs past `timeout` and fails the message with the error a user reads', async () => {
    current = await project({ 'main.ww': 'in = input cli {}\nslow = transform echo {\n  timeout = "50ms"\n  retry = false\n}\n' });
    let reason: unknown;
    const registry = createComponentRegistry().register(
      'transform',
      'echo',
      () => ({
        // Honours its signal, as a provider call given `abortSignal` does.
        handle: (_message, context) =>
          new Promise((_, reject) => {
            context.signal.addEventListener('abort', () => reject((reason = context.signal.reason)), { once: true });
          }),
      }),
      { replace: true },
    );
    const reader = metrics();
    const { runtime } = await started(await current.load(), { registry, metrics: { meterProvider: meterProvider! } });
    try {
      const { result, events, types } = await turn(runtime, 'hello');
      expect(result.ok).toBe(false);
      expect(types).toEqual(['input.received', 'component.timeout', 'agent.error', 'turn.completed']);
      expect(payloadOf(events, 'component.timeout')).toMatchObject({ component: 'slow', limit_ms: 50, key: 'timeout', attempt: 1 });
      const failure = result.errors[0]!.payload as Record<string, any>;
      expect(failure).toMatchObject({ component: 'slow', stage: 'handle', location: { file: current.file, line: 2, column: 1 } });
      expect(failure.error.code).toBe('WW_RUNTIME_TIMEOUT');
      expect(failure.error.message).toBe(`component \`slow\` did not finish handling a message of session ${result.sessionId} within its timeout of 50 ms`);
      expect(failure.error.hint).toBe('raise `timeout` of `slow` in the .ww file (`timeout = "100ms"`, or `"off"`), or make the work shorter');
      // The handler was told, through its signal, with the same error.
      expect(WoodworkRuntimeError.isInstance(reason) && reason.code).toBe('WW_RUNTIME_TIMEOUT');
      expect(runtime.stats().slow).toMatchObject({ timeouts: 1, failed: 1, retries: 0 });
      expect(await reader.value('woodwork.component.timeouts', { 'woodwork.component.name': 'slow' })).toBe(1);
    } finally {
      await runtime.stop();
    }
  });

  it('retries a retryable failure with growing waits, then succeeds; other errors are not retried', async () => {
    current = await project({
      'main.ww': 'in = input cli {}\nflaky = transform echo {\n  retry = { attempts = 4, backoff = "10ms", max_backoff = "15ms", jitter = 0 }\n}\n',
    });
    const attempts: number[] = [];
    const registry = createComponentRegistry().register(
      'transform',
      'echo',
      () => ({
        handle: (message) => {
          attempts.push(message.attempt);
          if (message.text === 'broken') throw new Error('a bug, not a blip');
          if (attempts.length < 4) throw retryable(`blip ${attempts.length}`);
          return `${message.text} after ${attempts.length} tries`;
        },
      }),
      { replace: true },
    );
    const reader = metrics();
    const { runtime } = await started(await current.load(), { registry, metrics: { meterProvider: meterProvider! } });
    try {
      const { result, events, types } = await turn(runtime, 'hi');
      expect(result).toMatchObject({ ok: true, text: 'hi after 4 tries' });
      expect(attempts).toEqual([1, 2, 3, 4]);
      expect(types).toEqual(['input.received', 'component.retry', 'component.retry', 'component.retry', 'transform.response', 'session.replied', 'turn.completed']);
      const retries = events.filter((event) => event.event_type === 'component.retry').map((event) => event.payload);
      // Doubling from 10 ms, capped at 15 ms, no jitter.
      expect(retries).toMatchObject([
        { component: 'flaky', attempt: 1, next_attempt: 2, attempts: 4, delay_ms: 10, error: { message: 'blip 1' } },
        { attempt: 2, next_attempt: 3, delay_ms: 15, error: { message: 'blip 2' } },
        { attempt: 3, next_attempt: 4, delay_ms: 15, error: { message: 'blip 3' } },
      ]);
      expect(await reader.value('woodwork.component.messages.retries', { 'woodwork.component.name': 'flaky' })).toBe(3);

      attempts.length = 0;
      const broken = await turn(runtime, 'broken');
      expect(broken.result.ok).toBe(false);
      expect(attempts).toEqual([1]);
      expect(broken.types).not.toContain('component.retry');
      expect(runtime.stats().flaky).toMatchObject({ retries: 3, failed: 1, handled: 1 });
    } finally {
      await runtime.stop();
    }
  });

  it('opens the circuit after N failures, answers with the fallback without calling, half-opens after the cooldown and closes on success', async () => {
    current = await project({
      'main.ww': `in = input cli {}
provider = transform echo {
  retry = false
  circuit_breaker = { failures = 2, window = "10s", cooldown = "150ms" }
  fallback = "The provider is busy; try again in a minute."
}
`,
    });
    let healthy = false;
    let calls = 0;
    const registry = createComponentRegistry().register(
      'transform',
      'echo',
      () => ({
        handle: (message) => {
          calls++;
          if (!healthy) throw retryable('503 from the provider');
          return `answer to ${message.text}`;
        },
      }),
      { replace: true },
    );
    const reader = metrics();
    const { runtime } = await started(await current.load(), { registry, metrics: { meterProvider: meterProvider! } });
    const circuit = () => reader.value('woodwork.component.circuit.state', { 'woodwork.component.name': 'provider', 'woodwork.downstream.name': 'provider' });
    try {
      // First failure: retries are off, so the fallback answers at once; the turn is ok.
      const first = await turn(runtime, 'one');
      expect(first.result).toMatchObject({ ok: true, text: 'The provider is busy; try again in a minute.', errors: [] });
      expect(first.types).toEqual(['input.received', 'component.fallback', 'transform.response', 'session.replied', 'turn.completed']);
      expect(payloadOf(first.events, 'component.fallback')).toMatchObject({ component: 'provider', reason: 'retries_exhausted', error: { message: '503 from the provider' } });

      // Second failure in a row opens the circuit.
      const second = await turn(runtime, 'two');
      expect(second.types).toEqual(['input.received', 'circuit.opened', 'component.fallback', 'transform.response', 'session.replied', 'turn.completed']);
      expect(payloadOf(second.events, 'circuit.opened')).toMatchObject({ component: 'provider', downstream: 'provider', state: 'open', failures: 2, cooldown_ms: 150 });
      expect(payloadOf(second.events, 'component.fallback')).toMatchObject({ reason: 'circuit_open', downstream: 'provider' });
      expect(await circuit()).toBe(2);

      // While open: the fallback, and the component is not called.
      const third = await turn(runtime, 'three');
      expect(third.result.text).toBe('The provider is busy; try again in a minute.');
      expect(payloadOf(third.events, 'component.fallback')).toMatchObject({ reason: 'circuit_open', error: { code: 'WW_RUNTIME_CIRCUIT_OPEN' } });
      expect(calls).toBe(2);

      // After the cooldown one trial goes through; it succeeds and closes the circuit.
      healthy = true;
      await new Promise((resolve) => setTimeout(resolve, 200));
      const fourth = await turn(runtime, 'four');
      expect(fourth.result).toMatchObject({ ok: true, text: 'answer to four' });
      expect(fourth.types).toEqual(['input.received', 'circuit.half_open', 'circuit.closed', 'transform.response', 'session.replied', 'turn.completed']);
      expect(calls).toBe(3);
      expect(await circuit()).toBe(0);
      expect(await reader.value('woodwork.component.fallbacks', { 'woodwork.component.name': 'provider' })).toBe(3);
      expect(runtime.stats().provider).toMatchObject({ fallbacks: 3, failed: 0, handled: 4 });
    } finally {
      await runtime.stop();
    }
  });

  it('guards a named downstream with context.downstream(): its circuit opens alone, and without a fallback the error says what to do', async () => {
    current = await project({
      'main.ww': 'in = input cli {}\nllm = transform echo {\n  circuit_breaker = { failures = 2, cooldown = "10s" }\n}\n',
    });
    let providerCalls = 0;
    const registry = createComponentRegistry().register(
      'transform',
      'echo',
      () => ({
        // As the llm component does: the SDK retried already, so the host must not retry again,
        // yet a 5xx still shows the provider unhealthy.
        handle: async (message, context) =>
          context.downstream('openai').call(
            async (signal) => {
              expect(signal).toBe(context.signal);
              providerCalls++;
              throw Object.assign(new Error('openai: 529 overloaded'), { status: 529 });
            },
            { isFailure: (error) => ((error as { status?: number }).status ?? 0) >= 500 },
          ),
      }),
      { replace: true },
    );
    const { runtime } = await started(await current.load(), { registry });
    try {
      await turn(runtime, 'a');
      const second = await turn(runtime, 'b');
      expect(payloadOf(second.events, 'circuit.opened')).toMatchObject({ component: 'llm', downstream: 'openai', failures: 2 });
      // The component's own breaker did not count the failures its downstream counted.
      expect(second.events.filter((event) => event.event_type === 'circuit.opened')).toHaveLength(1);

      const third = await turn(runtime, 'c');
      expect(providerCalls).toBe(2);
      expect(third.result.ok).toBe(false);
      const error = (third.result.errors[0]!.payload as Record<string, any>).error;
      expect(error).toMatchObject({ code: 'WW_RUNTIME_CIRCUIT_OPEN', component: 'llm' });
      expect(error.message).toMatch(/^the circuit of downstream `openai` of component `llm` is open after 2 failures in a row; it is tried again in \d+(\.\d+)? s$/);
      expect(error.hint).toBe('fix what `openai` depends on; set `fallback` on `llm` to answer meanwhile, or tune `circuit_breaker = { failures, window, cooldown }` (`false` turns it off)');
    } finally {
      await runtime.stop();
    }
  });

  it('answers with the fallback when a downstream fails with an error its call counts, without retrying it', async () => {
    current = await project({ 'main.ww': 'in = input cli {}\nllm = transform echo { fallback = { text = "model unavailable" } }\n' });
    let providerCalls = 0;
    const registry = createComponentRegistry().register(
      'transform',
      'echo',
      () => ({
        handle: (_message, context) =>
          context.downstream('openai').call(
            () => {
              providerCalls++;
              throw Object.assign(new Error('openai: 500 after 2 retries'), { status: 500 });
            },
            { isFailure: (error) => (error as { status?: number }).status === 500 },
          ),
      }),
      { replace: true },
    );
    const { runtime } = await started(await current.load(), { registry });
    try {
      const { result, events } = await turn(runtime, 'hi');
      expect(result).toMatchObject({ ok: true, text: 'model unavailable' });
      expect(payloadOf(events, 'component.fallback')).toMatchObject({ reason: 'downstream_failed', downstream: 'openai', error: { message: 'openai: 500 after 2 retries' } });
      expect(providerCalls).toBe(1);
    } finally {
      await runtime.stop();
    }
  });

  it('counts a timeout against the downstream whose call was in flight, not against the component', async () => {
    current = await project({
      'main.ww': 'in = input cli {}\ntool = transform echo {\n  timeout = "30ms"\n  retry = false\n  circuit_breaker = { failures = 1, cooldown = "10s" }\n}\n',
    });
    let serverCalls = 0;
    const registry = createComponentRegistry().register(
      'transform',
      'echo',
      // An MCP server that never answers, and a call that ignores its signal.
      () => ({ handle: (_message, context) => context.downstream('mcp').call(() => (serverCalls++, new Promise(() => {}))) }),
      { replace: true },
    );
    const { runtime } = await started(await current.load(), { registry });
    try {
      const first = await turn(runtime, 'a');
      expect(first.types).toEqual(['input.received', 'component.timeout', 'circuit.opened', 'agent.error', 'turn.completed']);
      expect(payloadOf(first.events, 'circuit.opened')).toMatchObject({ downstream: 'mcp', error: { code: 'WW_RUNTIME_TIMEOUT' } });
      const second = await turn(runtime, 'b');
      expect(serverCalls).toBe(1);
      expect((second.result.errors[0]!.payload as Record<string, any>).error.message).toMatch(/^the circuit of downstream `mcp` of component `tool` is open/);
    } finally {
      await runtime.stop();
    }
  });

  it('keeps at most `max_concurrency` handlings in flight; the rest wait (and are told so), none is dropped', async () => {
    current = await project({ 'main.ww': 'in = input cli {}\nnarrow = transform echo { max_concurrency = 2 }\n' });
    let inFlight = 0;
    let most = 0;
    const registry = createComponentRegistry().register(
      'transform',
      'echo',
      () => ({
        handle: async (message) => {
          most = Math.max(most, ++inFlight);
          await new Promise((resolve) => setTimeout(resolve, 20));
          inFlight--;
          return message.text;
        },
      }),
      { replace: true },
    );
    const reader = metrics();
    const { runtime } = await started(await current.load(), { registry, metrics: { meterProvider: meterProvider! } });
    try {
      const turns = await Promise.all(Array.from({ length: 10 }, (_, index) => turn(runtime, `m${index}`)));
      expect(turns.map((one) => one.result.text)).toEqual(Array.from({ length: 10 }, (_, index) => `m${index}`));
      expect(most).toBe(2);
      const saturated = turns.flatMap((one) => one.events.filter((event) => event.event_type === 'component.saturated'));
      expect(saturated.length).toBeGreaterThan(0);
      expect(saturated[0]!.payload).toMatchObject({ component: 'narrow', limit: 2, in_flight: 2 });
      expect(runtime.stats().narrow).toMatchObject({ handled: 10, waiting: 0 });
      expect(await reader.value('woodwork.component.messages.waiting', { 'woodwork.component.name': 'narrow' })).toBe(0);
    } finally {
      await runtime.stop();
    }
  });

  it('refuses to start a component whose setting from the environment is not valid, naming the key', async () => {
    current = await project({ 'main.ww': 'in = input cli {}\nt = transform echo { timeout = $T }\n' });
    const topology = await current.load({ T: 'soon' });
    const { createRuntime } = await import('../src/index.js');
    const runtime = createRuntime(topology, { logger: silentLogger });
    const error = await runtime.start().catch((caught: unknown) => caught);
    await runtime.stop();
    expect(error).toMatchObject({
      code: 'WW_RUNTIME_INVALID_TOPOLOGY',
      message: '`timeout` of component `t` must be a duration ("500ms", "30s", "5m", "1h") or milliseconds, or "off", found "soon"',
      location: { line: 2 },
    });
  });
});

const redisUrl = process.env.WOODWORK_TEST_REDIS_URL;
if (redisUrl === undefined && process.env.WOODWORK_TEST_REQUIRE_BROKERS === '1') {
  throw new Error('WOODWORK_TEST_REDIS_URL is not set but brokers are required (tools/services.sh start redis)');
}

describe.skipIf(redisUrl === undefined)('failures contained, over Redis', () => {
  it('times out, retries and serves the fallback across two hosts on the Redis bus', async () => {
    current = await project({
      'main.ww': `in = input cli {}
model = transform echo {
  timeout = "40ms"
  retry = { attempts = 2, backoff = "5ms", jitter = 0 }
  fallback = { text = "no answer in time" }
}
`,
    });
    const topology = await current.load();
    let tries = 0;
    const lateStream: string[] = [];
    const registry = createComponentRegistry().register(
      'transform',
      'echo',
      // Ignores its signal: the host must stop waiting anyway, and what it does late goes nowhere.
      () => ({
        handle: async (_message, context) => {
          tries++;
          await new Promise((resolve) => setTimeout(resolve, 80));
          lateStream.push(await Promise.resolve().then(() => context.stream()).then(() => 'started', (error: WoodworkRuntimeError) => error.code));
          return 'too late';
        },
      }),
      { replace: true },
    );
    const namespace = `res${Date.now().toString(36)}`;
    const common = { bus: redisUrl!, sessions: { redis: redisUrl!, prefix: `woodwork:${namespace}` }, namespace, logger: silentLogger, registry };
    const { createRuntime } = await import('../src/index.js');
    const back = createRuntime(topology, { ...common, components: ['model'], instanceId: `${namespace}-back` });
    const front = createRuntime(topology, { ...common, components: ['in'], instanceId: `${namespace}-front` });
    await back.start();
    await front.start();
    try {
      const { result, events, types } = await turn(front, 'are you there?');
      expect(result).toMatchObject({ ok: true, text: 'no answer in time' });
      expect(types).toEqual([
        'input.received',
        'component.timeout',
        'component.retry',
        'component.timeout',
        'component.fallback',
        'transform.response',
        'session.replied',
        'turn.completed',
      ]);
      expect(payloadOf(events, 'component.fallback')).toMatchObject({ component: 'model', reason: 'timeout', error: { code: 'WW_RUNTIME_TIMEOUT' } });
      expect(result.replies[0]!.payload).toEqual({ text: 'no answer in time' });
      await waitFor(() => tries === 2 && lateStream.length === 2);
      expect(lateStream).toEqual(['WW_RUNTIME_TIMEOUT', 'WW_RUNTIME_TIMEOUT']);
      expect(back.stats().model).toMatchObject({ timeouts: 2, retries: 1, fallbacks: 1 });
    } finally {
      await front.stop();
      await back.stop();
    }
  });
});

describe('the pieces, on a clock of their own', () => {
  it('backoff doubles up to max_backoff, and jitter takes at most its share off each wait', async () => {
    const { backoffDelay } = await import('../src/resilience.js');
    const settings = { attempts: 6, backoffMs: 100, maxBackoffMs: 500, jitter: 0.5 };
    expect([1, 2, 3, 4, 5].map((retry) => backoffDelay(retry, settings, () => 0))).toEqual([100, 200, 400, 500, 500]);
    expect([1, 2, 3].map((retry) => backoffDelay(retry, settings, () => 1))).toEqual([50, 100, 200]);
  });

  it('a breaker counts failures in a row within the window, lets one trial through when half-open, and never stays half-open on a hung trial', async () => {
    const { CircuitBreaker } = await import('../src/resilience.js');
    let now = 0;
    const breaker = new CircuitBreaker('p', { failures: 3, windowMs: 1_000, cooldownMs: 500 }, () => now);
    breaker.failure();
    now = 1_500; // the first failure has left the window
    expect([breaker.failure(), breaker.failure()]).toEqual([undefined, undefined]);
    expect(breaker.state).toBe('closed');
    expect(breaker.failure()).toBe('opened');
    expect(breaker.admit()).toEqual({ ok: false, retryInMs: 500 });
    now += 500;
    expect(breaker.admit()).toEqual({ ok: true, trial: true, transition: 'half_open' });
    expect(breaker.admit()).toMatchObject({ ok: false });
    now += 500; // the trial never came back
    expect(breaker.admit()).toEqual({ ok: true, trial: true });
    expect(breaker.failure()).toBe('opened');
    now += 500;
    breaker.admit();
    expect(breaker.success()).toBe('closed');
    // A success in between starts the count again.
    breaker.failure();
    breaker.failure();
    breaker.success();
    breaker.failure();
    expect(breaker.state).toBe('closed');
  });

  it('one timer serves every deadline: a hung handling expires in its turn and does not hold back later ones', async () => {
    const { DeadlineQueue } = await import('../src/resilience.js');
    const queue = new DeadlineQueue(30);
    const never = new Promise<never>(() => {});
    const outcomes: string[] = [];
    const first = queue.race(never, () => new Error('first')).catch((error: Error) => outcomes.push(error.message));
    const fast = queue.race(Promise.resolve('fast'), () => new Error('fast expired')).then((value) => outcomes.push(value));
    await new Promise((resolve) => setTimeout(resolve, 10));
    const third = queue.race(never, () => new Error('third')).catch((error: Error) => outcomes.push(error.message));
    await Promise.all([first, fast, third]);
    expect(outcomes).toEqual(['fast', 'first', 'third']);
    queue.close();
  });
});

describe('the defaults', () => {
  it('are the ones the catalogue tells `woodwork validate` users', async () => {
    const { catalogue, parseDuration } = await import('@woodwork/parser');
    const { resilienceDefaults } = await import('../src/index.js');
    const said = (key: string) => catalogue.commonKeys[key]!.description;
    const written = (text: string) => parseDuration(/Default `"([^"]+)"`/.exec(text)?.[1]);
    expect(written(said('timeout'))).toBe(resilienceDefaults.timeoutMs);
    const { attempts, backoffMs, maxBackoffMs, jitter } = resilienceDefaults.retry;
    expect(said('retry')).toContain(`Default \`{ attempts = ${attempts}, backoff = "${backoffMs}ms", max_backoff = "${maxBackoffMs / 1000}s", jitter = ${jitter} }\``);
    const { failures, windowMs, cooldownMs } = resilienceDefaults.circuitBreaker;
    expect(said('circuit_breaker')).toContain(`Default \`{ failures = ${failures}, window = "${windowMs / 1000}s", cooldown = "${cooldownMs / 1000}s" }\``);
  });
});
