import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createBus, type Bus, type Envelope } from '@woodwork/bus';
import { expandEvent } from '../src/host.js';
import { createComponentRegistry, type SessionEvent } from '../src/index.js';
import { eventsUntil, project, started, waitFor, type Project } from './helpers.js';

let current: Project | undefined;
afterEach(async () => {
  await current?.remove();
  current = undefined;
});

const CHUNKS = 300;
const redisUrl = process.env.WOODWORK_TEST_REDIS_URL;
const buses = redisUrl ? (['memory', 'redis'] as const) : (['memory'] as const);

/** A transform that writes CHUNKS chunks without waiting for each: they queue behind the publish in flight. */
function burstRegistry() {
  return createComponentRegistry().register(
    'transform',
    'echo',
    () => ({
      async handle(_message, context) {
        const writer = context.stream();
        await Promise.all(Array.from({ length: CHUNKS }, (_, index) => writer.write(`c${index} `)));
        return undefined;
      },
    }),
    { replace: true },
  );
}

const chunkEvents = (events: readonly SessionEvent[]) => events.filter((event) => event.event_type === 'stream.chunk');
const expectedText = Array.from({ length: CHUNKS }, (_, index) => `c${index} `);

describe.each(buses)("a stream's chunk events on the %s bus", (kind) => {
  async function setUp(sessionHistory?: number, files: Record<string, string> = { 'main.ww': 'in = input cli {}\nt = transform echo { streaming = true }\n' }) {
    current = await project(files);
    const bus: Bus = await createBus(kind === 'redis' ? redisUrl! : `memory://stream-events-${randomUUID()}`);
    const namespace = `se${randomUUID().slice(0, 8)}`;
    // What the events topic itself carries, read beside the runtime in a group of its own.
    const raw: Envelope[] = [];
    const tap = await bus.subscribe(`${namespace}.events`, { group: 'raw-tap', fromBeginning: true }, (envelope) => void raw.push(envelope));
    const { runtime } = await started(await current.load(), { registry: burstRegistry(), bus, namespace, ...(sessionHistory === undefined ? {} : { sessionHistory }) });
    return {
      runtime,
      raw,
      async [Symbol.asyncDispose]() {
        await runtime.stop();
        await tap.close();
        await bus.close();
      },
    };
  }

  it('go out together when they queue up, and every reader still gets one stream.chunk event per chunk, in order', async () => {
    await using setup = await setUp();
    const { runtime, raw } = setup;
    const sessionId = await runtime.create();
    const events = runtime.events(sessionId);
    expect((await runtime.ask(sessionId, 'go')).text).toBe(expectedText.join(''));
    const chunks = chunkEvents(await eventsUntil(events, 'turn.completed'));
    expect(chunks.map((event) => event.chunk_index)).toEqual(Array.from({ length: CHUNKS + 1 }, (_, index) => index));
    expect(chunks.map((event) => (event.payload as { data: string | null }).data)).toEqual([...expectedText, null]);
    expect(chunks.map((event) => event.is_final)).toEqual([...Array.from({ length: CHUNKS }, () => false), true]);
    expect(new Set(chunks.map((event) => event.message_id)).size).toBe(CHUNKS + 1);

    // On the bus: fewer envelopes than chunks, the first chunk alone (nothing was in flight).
    await waitFor(() => raw.some((envelope) => envelope.event_type === 'turn.completed' && envelope.session_id === sessionId));
    const carried = raw.filter((envelope) => envelope.session_id === sessionId && envelope.event_type.startsWith('stream.chunk'));
    expect(carried[0]).toMatchObject({ event_type: 'stream.chunk', chunk_index: 0 });
    expect(carried.some((envelope) => envelope.event_type === 'stream.chunks')).toBe(true);
    expect(carried.length).toBeLessThan(CHUNKS);
  });

  it('resume after a chunk that travelled inside a coalesced envelope, from the kept history and from the bus log', async () => {
    // A history of 20 events cannot hold the stream: resuming in its first part reads the log.
    await using setup = await setUp(20);
    const { runtime, raw } = setup;
    const sessionId = await runtime.create();
    await runtime.ask(sessionId, 'go');
    await waitFor(() => raw.some((envelope) => envelope.event_type === 'turn.completed' && envelope.session_id === sessionId));
    const chunks = chunkEvents(raw.filter((envelope) => envelope.session_id === sessionId).flatMap(expandEvent));
    expect(chunks).toHaveLength(CHUNKS + 1);
    for (const at of [CHUNKS - 3, 100]) {
      const resumed: SessionEvent[] = [];
      let found: string | undefined;
      for await (const event of runtime.events(sessionId, { after: chunks[at]!.message_id, onResume: (where) => (found = where) })) {
        resumed.push(event);
        if (event.event_type === 'turn.completed') break;
      }
      expect(found).toBe(at === 100 ? 'log' : 'history');
      const rest = chunkEvents(resumed);
      expect(rest.map((event) => event.chunk_index)).toEqual(Array.from({ length: CHUNKS - at }, (_, index) => at + 1 + index));
      expect(rest.map((event) => event.message_id)).toEqual(chunks.slice(at + 1).map((event) => event.message_id));
    }
  });

  it("are not coalesced for a component whose hooks want them: each hook runs once per chunk", async () => {
    const log: number[] = ((globalThis as { __chunkHookLog?: number[] }).__chunkHookLog = []);
    await using setup = await setUp(undefined, {
      'main.ww': 'in = input cli {}\nt = transform echo {\n  streaming = true\n  hooks = [{ event = "stream.chunk", function = "hooks.ts::chunk" }]\n}\n',
      'hooks.ts': 'export function chunk(event: { chunk_index: number }) { ((globalThis as any).__chunkHookLog ??= []).push(event.chunk_index); }\n',
    });
    const { runtime, raw } = setup;
    const sessionId = await runtime.create();
    await runtime.ask(sessionId, 'go');
    await waitFor(() => log.length === CHUNKS);
    expect([...log].sort((a, b) => a - b)).toEqual(Array.from({ length: CHUNKS }, (_, index) => index));
    await waitFor(() => raw.some((envelope) => envelope.event_type === 'turn.completed' && envelope.session_id === sessionId));
    expect(raw.filter((envelope) => envelope.event_type === 'stream.chunks')).toEqual([]);
  });

  it('reach hooks on every event as the chunks with data, the last one final, without the end marker the session gets', async () => {
    type Seen = { event_type: string; chunk_index: number | null; is_final: boolean; payload: { data?: unknown } | null };
    const log: Seen[] = ((globalThis as { __allHookLog?: Seen[] }).__allHookLog = []);
    await using setup = await setUp(undefined, {
      'main.ww': 'in = input cli {}\nt = transform echo {\n  streaming = true\n  hooks = [{ event = "*", function = "hooks.ts::all" }]\n}\n',
      'hooks.ts': 'export function all(event: unknown) { ((globalThis as any).__allHookLog ??= []).push(event); }\n',
    });
    const { runtime } = setup;
    const sessionId = await runtime.create();
    const events = runtime.events(sessionId);
    await runtime.ask(sessionId, 'go');
    // The session still ends the stream with its marker...
    expect(chunkEvents(await eventsUntil(events, 'turn.completed')).at(-1)).toMatchObject({ is_final: true, payload: { data_type: null, data: null } });
    // ...which hooks never see: they get each chunk with its data, and the last one says it is final.
    await waitFor(() => log.some((event) => event.event_type === 'transform.response'));
    await waitFor(() => log.filter((event) => event.event_type === 'stream.chunk').length >= CHUNKS);
    await runtime.stop();
    const chunks = log.filter((event) => event.event_type === 'stream.chunk').sort((a, b) => a.chunk_index! - b.chunk_index!);
    expect(chunks.map((event) => event.payload?.data)).toEqual(expectedText);
    expect(chunks.map((event) => event.is_final)).toEqual([...Array.from({ length: CHUNKS - 1 }, () => false), true]);
    expect(runtime.stats().t!.hookFailures).toBe(0);
  });
});

describe('a stream cut short, as its hooks see it', () => {
  it('hands its last chunk over, not final, when the agent.error comes instead of the end', async () => {
    type Seen = { event_type: string; chunk_index: number | null; is_final: boolean; payload: { data?: unknown } | null };
    const log: Seen[] = ((globalThis as { __cutHookLog?: Seen[] }).__cutHookLog = []);
    current = await project({
      'main.ww': 'in = input cli {}\nt = transform echo {\n  streaming = true\n  hooks = [{ event = "*", function = "hooks.ts::all" }]\n}\n',
      'hooks.ts': 'export function all(event: unknown) { ((globalThis as any).__cutHookLog ??= []).push(event); }\n',
    });
    const registry = createComponentRegistry().register(
      'transform',
      'echo',
      () => ({
        async handle(_message, context) {
          const writer = context.stream();
          await writer.write('one ');
          await writer.write('two ');
          throw new Error('cut short');
        },
      }),
      { replace: true },
    );
    const { runtime } = await started(await current.load(), { registry, hookTimeoutMs: 30_000 });
    try {
      const result = await runtime.ask(undefined, 'go');
      expect(result.ok).toBe(false);
      await waitFor(() => log.some((event) => event.event_type === 'agent.error') && log.filter((event) => event.event_type === 'stream.chunk').length === 2);
    } finally {
      await runtime.stop();
    }
    const chunks = log.filter((event) => event.event_type === 'stream.chunk').sort((a, b) => a.chunk_index! - b.chunk_index!);
    expect(chunks.map((event) => [event.payload?.data, event.is_final])).toEqual([
      ['one ', false],
      ['two ', false],
    ]);
  });
});
