import { afterEach, describe, expect, it } from 'vitest';
import { createBus } from '@woodwork/bus';
import { loadTopology } from '@woodwork/parser';
import {
  createComponentRegistry,
  createRuntime,
  textOf,
  WoodworkRuntimeError,
} from '../src/index.js';
import { silentLogger } from '../src/logger.js';
import { capture, eventsUntil, project, started, type Project } from './helpers.js';

let current: Project | undefined;
afterEach(async () => {
  await current?.remove();
  current = undefined;
});

describe('createRuntime', () => {
  it('runs the README example', async () => {
    current = await project({ 'main.ww': 'in = input cli {}\nshout = transform uppercase {}\n' });
    const out = capture();
    // --- README example (kept in sync with packages/runtime/README.md) ---
    const { resolved } = await loadTopology(current.file, { mode: 'run' });
    await using runtime = createRuntime(resolved!, { io: { stdout: out.stream } });
    await runtime.start();

    const sessionId = await runtime.send(undefined, 'hello');
    for await (const event of runtime.events(sessionId)) {
      if (event.event_type === 'session.replied') out.stream.write(`reply: ${textOf(event.payload)}\n`);
      if (event.event_type === 'turn.completed') break;
    }
    const { text } = await runtime.ask(sessionId, 'and again');
    // --- end of README example ---
    expect(out.text()).toBe('reply: HELLO\n');
    expect(text).toBe('AND AGAIN');
  });

  it('sends each result to the next component and the reply back to the session that asked', async () => {
    current = await project({
      'main.ww': 'in = input cli {}\nfirst = transform echo { prefix = "> ", to = [second] }\nsecond = transform uppercase {}\n',
    });
    const { runtime } = await started(await current.load());
    try {
      const session = await runtime.session();
      const events = session.events();
      const turn = await session.send('hi');
      const seen = await eventsUntil(events, 'turn.completed');
      expect(seen.map((event) => `${event.component_source}:${event.event_type}`)).toEqual([
        'runtime:session.started',
        'in:input.received',
        'first:transform.response',
        'second:transform.response',
        'second:session.replied',
        'runtime:turn.completed',
      ]);
      expect(seen.every((event) => event.session_id === session.id)).toBe(true);
      const result = await turn.result;
      expect(result).toMatchObject({ ok: true, text: '> HI', sessionId: session.id, turnId: turn.turnId });
      expect(seen.slice(1).every((event) => event.trace?.traceparent.includes(turn.turnId))).toBe(true);
    } finally {
      await runtime.stop();
    }
  });

  it('fans out to every target and completes the turn when every branch replied', async () => {
    current = await project({
      'main.ww': 'in = input cli { to = [a, b] }\na = transform uppercase {}\nb = transform lowercase { to = [c] }\nc = transform echo { prefix = "c:" }\n',
    });
    const { runtime } = await started(await current.load());
    try {
      const result = await runtime.ask(undefined, 'MiXeD');
      expect(result.ok).toBe(true);
      expect(result.replies.map((reply) => `${reply.component_source}=${textOf(reply.payload)}`).sort()).toEqual(['a=MIXED', 'c=c:mixed']);
    } finally {
      await runtime.stop();
    }
  });

  it('keeps sessions apart and a session across turns', async () => {
    current = await project({ 'main.ww': 'in = input cli {}\nt = transform echo {}\nout = output console {}\n' });
    const { runtime, stdout } = await started(await current.load());
    try {
      const results = await Promise.all(Array.from({ length: 50 }, (_, index) => runtime.ask(undefined, `m${index}`)));
      expect(new Set(results.map((result) => result.sessionId)).size).toBe(50);
      results.forEach((result, index) => expect(result.text).toBe(`m${index}`));
      expect(stdout().split('\n').filter(Boolean)).toHaveLength(50);
      const id = results[0]!.sessionId;
      expect((await runtime.ask(id, 'second')).sessionId).toBe(id);
      expect(await runtime.get(id)).toMatchObject({ id });
    } finally {
      await runtime.stop();
    }
  });

  it('lets a caller choose the session id, and ends sessions with session.ended', async () => {
    current = await project({ 'main.ww': 'in = input cli {}\nt = transform echo {}\n' });
    const { runtime } = await started(await current.load());
    try {
      await runtime.ask('user-42:chat', 'hi');
      const events = runtime.events('user-42:chat', { from: 'live' });
      const ended = eventsUntil(events, 'session.ended');
      await runtime.end('user-42:chat');
      expect((await ended).at(-1)!.payload).toEqual({ reason: 'ended' });
      expect(await runtime.get('user-42:chat')).toBeUndefined();
      await expect(runtime.send('not a valid id!', 'x')).rejects.toMatchObject({ code: 'WW_RUNTIME_SESSION' });
    } finally {
      await runtime.stop();
    }
  });

  it('times idle sessions out', async () => {
    current = await project({ 'main.ww': 'in = input cli {}\nt = transform echo {}\n' });
    const { runtime } = await started(await current.load(), { sessionTimeoutMs: 150 });
    try {
      const { sessionId } = await runtime.ask(undefined, 'hi');
      const seen = await eventsUntil(runtime.events(sessionId), 'session.ended');
      expect(seen.at(-1)!.payload).toEqual({ reason: 'timeout' });
      expect(await runtime.get(sessionId)).toBeUndefined();
    } finally {
      await runtime.stop();
    }
  });

  it('drains on stop: a turn sent and not awaited still completes', async () => {
    current = await project({ 'main.ww': 'in = input cli {}\nt = transform uppercase {}\nout = output console {}\n' });
    const { runtime, stdout } = await started(await current.load());
    await Promise.all(Array.from({ length: 20 }, (_, index) => runtime.send(undefined, `late ${index}`)));
    await runtime.stop();
    expect(stdout().split('\n').filter(Boolean)).toHaveLength(20);
    expect(runtime.state).toBe('stopped');
    await expect(runtime.send(undefined, 'x')).rejects.toMatchObject({ code: 'WW_RUNTIME_STATE' });
  });

  it('accepts any Bus, or a bus URL', async () => {
    current = await project({ 'main.ww': 'in = input cli {}\nt = transform uppercase {}\n' });
    const topology = await current.load();
    await using bus = await createBus(`memory://runtime-test-${Date.now()}`);
    const first = createRuntime(topology, { bus, logger: silentLogger, namespace: 'one' });
    await first.start();
    expect((await first.ask(undefined, 'a')).text).toBe('A');
    await first.stop();
    expect((await bus.health()).connected).toBe(true); // not ours to close
    const second = createRuntime(topology, { bus: `memory://runtime-url-${Date.now()}`, logger: silentLogger });
    await second.start();
    expect((await second.ask(undefined, 'b')).text).toBe('B');
    await second.stop();
  });

  it('refuses to start a component it has no implementation for, naming it and its place', async () => {
    current = await project({ 'main.ww': 'in = input cli {}\n\nbrain = llm openai { model = "gpt-4o-mini" }\nout = output cli {}\n' });
    // The built-ins only: the default registry would load @woodwork/ai, which implements `llm openai`.
    const runtime = createRuntime(await current.load(), { logger: silentLogger, registry: createComponentRegistry() });
    const error = (await runtime.start().catch((caught: unknown) => caught)) as WoodworkRuntimeError;
    expect(WoodworkRuntimeError.isInstance(error)).toBe(true);
    expect(error.code).toBe('WW_RUNTIME_UNKNOWN_COMPONENT_TYPE');
    expect(error.message).toBe('component `brain` is `llm openai`, which has no implementation in this runtime');
    expect(error.location).toMatchObject({ file: current.file, line: 3, column: 1 });
    expect(error.hint).toMatch(/register/);
  });

  it('stops safely after a failed start, so `await using` shows the error start() threw', async () => {
    current = await project({ 'main.ww': 'in = input cli {}\nt = transform uppercase {}\n' });
    const registry = createComponentRegistry().register(
      'transform',
      'uppercase',
      () => {
        throw new Error('the broken transform cannot start');
      },
      { replace: true },
    );
    const runtime = createRuntime(await current.load(), { logger: silentLogger, registry });
    const failure = await runtime.start().catch((caught: unknown) => caught);
    expect(String(failure)).toMatch(/the broken transform cannot start/);
    await expect(runtime.stop()).resolves.toBeUndefined();
    await expect(runtime[Symbol.asyncDispose]()).resolves.toBeUndefined();

    const disposed = await (async () => {
      await using again = createRuntime(await current!.load(), { logger: silentLogger, registry });
      await again.start();
    })().catch((caught: unknown) => caught);
    // Node 22 has no SuppressedError global (the transpiled `await using` makes its own): by name.
    expect((disposed as Error).name).not.toBe('SuppressedError');
    expect(String(disposed)).toMatch(/the broken transform cannot start/);
  });

  it('runs only the components it is asked to host, and still sends input to the topology', async () => {
    current = await project({ 'main.ww': 'in = input cli {}\nt = transform uppercase {}\n' });
    const topology = await current.load();
    await using bus = await createBus(`memory://split-${Date.now()}`);
    const front = createRuntime(topology, { bus, components: ['in'], logger: silentLogger, instanceId: 'front', drainTimeoutMs: 50 });
    const back = createRuntime(topology, { bus, components: ['t'], logger: silentLogger, instanceId: 'back' });
    await front.start();
    await back.start();
    try {
      expect(Object.keys(front.stats())).toEqual(['in']);
      // Sessions live in each runtime's own store here, so the back end keeps no turn counter for
      // the front's session: a shared store (Redis) is what distributed mode uses. The reply still arrives.
      const session = await front.session();
      const events = session.events();
      await session.send('split');
      const seen = await eventsUntil(events, 'session.replied');
      expect(textOf(seen.at(-1)!.payload)).toBe('SPLIT');
      await expect(createRuntime(topology, { components: ['nope'] }).start()).rejects.toThrow(/no component named `nope`/);
    } finally {
      await front.stop();
      await back.stop();
    }
  });

  it('lets users register their own implementation of a type', async () => {
    current = await project({ 'main.ww': 'in = input cli {}\nt = transform echo {}\n' });
    const registry = createComponentRegistry().register(
      'transform',
      'echo',
      () => ({ handle: async (message, context) => {
        const count = ((await context.session.get<number>('count')) ?? 0) + 1;
        await context.session.set('count', count);
        await context.emit('transform.counted', { count });
        return `${message.text} #${count}`;
      } }),
      { replace: true },
    );
    const { runtime } = await started(await current.load(), { registry });
    try {
      const first = await runtime.ask(undefined, 'a');
      expect(first.text).toBe('a #1');
      expect((await runtime.ask(first.sessionId, 'b')).text).toBe('b #2');
      expect((await runtime.ask(undefined, 'c')).text).toBe('c #1');
    } finally {
      await runtime.stop();
    }
  });

  it('fails a message whose handle throws, reports it to the session, and retries retryable errors first', async () => {
    current = await project({ 'main.ww': 'in = input cli {}\nt = transform echo {}\n' });
    let calls = 0;
    const registry = createComponentRegistry().register(
      'transform',
      'echo',
      () => ({
        handle: (message) => {
          calls++;
          if (message.text === 'flaky' && calls < 3) throw Object.assign(new Error('try again'), { isRetryable: true });
          if (message.text === 'broken') throw new Error('no way');
          return message.text;
        },
      }),
      { replace: true },
    );
    const { runtime } = await started(await current.load(), { registry });
    try {
      expect((await runtime.ask(undefined, 'flaky')).text).toBe('flaky');
      expect(calls).toBe(3);
      const failed = await runtime.ask(undefined, 'broken');
      expect(failed.ok).toBe(false);
      expect(failed.errors[0]!.payload).toMatchObject({
        stage: 'handle',
        component: 't',
        error: { code: 'WW_RUNTIME_HANDLER_FAILED', message: 'component `t` failed: no way' },
        location: { line: 2 },
      });
    } finally {
      await runtime.stop();
    }
  });
});
