import { describe, expect, it } from 'vitest';
import type { Runtime, SessionEvent } from '@woodwork/runtime';
import { startScriptedServer, type ScriptedServer } from '../src/testing/index.js';
import { eventsUntil, project, started } from './support/project.js';

const FALLBACK = 'The model is unavailable right now; try again in a minute.';

function source(server: ScriptedServer, keys: string): string {
  return `chat = llm openai {
  model = "gpt-4o-mini"
  api_key = "sk-x"
  base_url = "${server.openaiBaseUrl}"
  ${keys}
  fallback = "${FALLBACK}"
}
`;
}

/** One turn: its result, and the types and events the session saw. */
async function turn(runtime: Runtime, sessionId: string, input: string) {
  // The reader is registered when its iterator is made: before the input, so it misses nothing.
  const iterator = runtime.events(sessionId, { from: 'live' })[Symbol.asyncIterator]();
  const events = { [Symbol.asyncIterator]: () => iterator };
  const submitted = await runtime.submit(sessionId, input);
  const seen = await eventsUntil(events, 'turn.completed');
  return { result: await submitted.result, events: seen, types: seen.map((event) => event.event_type) };
}

function payloadOf(events: readonly SessionEvent[], type: string): unknown {
  return events.find((event) => event.event_type === type)?.payload;
}

describe("the provider's circuit", () => {
  it('opens after N provider 500s, the fallback answers without calling, and after the cooldown a healthy answer closes it', async () => {
    await using server = await startScriptedServer();
    server.enqueue({ status: 500 }, { status: 500 }, { status: 500 });
    await using files = await project({ 'main.ww': source(server, 'max_retries = 0\n  circuit_breaker = { failures = 3, window = "60s", cooldown = "100ms" }') });
    await using runtime = await started(await files.load());
    const sessionId = await runtime.create();

    // Two failures: the fallback answers each (the provider failed; the host did not retry).
    for (const input of ['one', 'two']) {
      const { result, events, types } = await turn(runtime, sessionId, input);
      expect(result).toMatchObject({ ok: true, text: FALLBACK });
      expect(types).not.toContain('circuit.opened');
      expect(types).not.toContain('component.retry');
      expect(payloadOf(events, 'component.fallback')).toMatchObject({ component: 'chat', reason: 'downstream_failed', downstream: 'openai', error: { code: 'WW_AI_PROVIDER_ERROR' } });
    }

    // The third in a row opens the circuit.
    const third = await turn(runtime, sessionId, 'three');
    expect(third.result).toMatchObject({ ok: true, text: FALLBACK });
    expect(third.types.indexOf('circuit.opened')).toBeLessThan(third.types.indexOf('component.fallback'));
    expect(payloadOf(third.events, 'circuit.opened')).toMatchObject({ component: 'chat', downstream: 'openai', state: 'open', failures: 3, cooldown_ms: 100 });
    expect(server.requests).toHaveLength(3);

    // While open the provider is not called.
    const fourth = await turn(runtime, sessionId, 'four');
    expect(fourth.result.text).toBe(FALLBACK);
    expect(payloadOf(fourth.events, 'component.fallback')).toMatchObject({ reason: 'circuit_open', downstream: 'openai', error: { code: 'WW_RUNTIME_CIRCUIT_OPEN' } });
    expect(server.requests).toHaveLength(3);

    // After the cooldown (polled, not timed) the trial call answers and closes the circuit.
    let healthy: Awaited<ReturnType<typeof turn>> | undefined;
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; ) {
      const next = await turn(runtime, sessionId, 'five');
      if (next.result.text !== FALLBACK) {
        healthy = next;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    expect(healthy, 'a turn answered by the provider within 10 s').toBeDefined();
    expect(healthy!.result).toMatchObject({ ok: true, text: 'You said: five' });
    expect(healthy!.types).toContain('circuit.half_open');
    expect(healthy!.types).toContain('circuit.closed');
    expect(server.requests).toHaveLength(4);
  });

  it("retries a failing provider only in the llm (max_retries), not again in the host's retry", async () => {
    await using server = await startScriptedServer();
    server.enqueue({ status: 503 }, { status: 503 });
    // The host's `retry` is on (3 tries); the llm's own retries are the only ones.
    await using files = await project({ 'main.ww': source(server, 'max_retries = 1\n  retry = { attempts = 3, backoff = "10ms" }') });
    await using runtime = await started(await files.load());
    const sessionId = await runtime.create();
    const { result, events, types } = await turn(runtime, sessionId, 'hello');
    expect(result).toMatchObject({ ok: true, text: FALLBACK });
    expect(server.requests).toHaveLength(2);
    expect(types).not.toContain('component.retry');
    expect(payloadOf(events, 'component.fallback')).toMatchObject({ reason: 'downstream_failed', downstream: 'openai' });
  });

  it('does not count a refused key (401) or a rejected request (400): the error is the reply, and the circuit stays closed', async () => {
    await using server = await startScriptedServer();
    server.enqueue({ status: 401 }, { status: 400 }, { status: 401 });
    await using files = await project({ 'main.ww': source(server, 'max_retries = 0\n  circuit_breaker = { failures = 2 }') });
    await using runtime = await started(await files.load());
    const sessionId = await runtime.create();
    for (const [input, code] of [
      ['one', 'WW_AI_AUTH'],
      ['two', 'WW_AI_BAD_REQUEST'],
      ['three', 'WW_AI_AUTH'],
    ] as const) {
      const { result, types } = await turn(runtime, sessionId, input);
      expect(result.ok).toBe(false);
      expect(result.errors[0]?.payload).toMatchObject({ error: { code } });
      expect(types).not.toContain('circuit.opened');
      expect(types).not.toContain('component.fallback');
    }
    expect(server.requests).toHaveLength(3);
  });
});
