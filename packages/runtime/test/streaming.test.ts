import { afterEach, describe, expect, it } from 'vitest';
import { createComponentRegistry, createInProcessTransport, defineComponent, type StreamChunk } from '../src/index.js';
import { eventsUntil, project, started, waitFor, type Project } from './helpers.js';

let current: Project | undefined;
afterEach(async () => {
  await current?.remove();
  current = undefined;
});

describe.each(['in-process', 'bus'] as const)('streaming (%s transport)', (streams) => {
  it('streams a result chunk by chunk to the session and to an output that prints as it arrives', async () => {
    current = await project({ 'main.ww': 'in = input cli {}\nt = transform echo { streaming = true }\nout = output console {}\n' });
    const { runtime, stdout } = await started(await current.load(), { streams });
    try {
      const session = await runtime.session();
      const events = session.events();
      const result = await session.ask('one two three');
      expect(result.text).toBe('one two three');
      expect(stdout()).toBe('one two three\n');
      const seen = await eventsUntil(events, 'turn.completed');
      const chunks = seen.filter((event) => event.event_type === 'stream.chunk');
      expect(chunks.map((event) => (event.payload as { data: string | null }).data)).toEqual(['one ', 'two ', 'three', null]);
      expect(chunks.map((event) => event.chunk_index)).toEqual([0, 1, 2, 3]);
      expect(chunks.at(-1)!.is_final).toBe(true);
      expect(new Set(chunks.map((event) => event.stream_id)).size).toBe(1);
      // The result event carries the whole text once the stream ended.
      expect(seen.find((event) => event.event_type === 'transform.response')).toMatchObject({ payload: 'one two three', stream_id: chunks[0]!.stream_id });
    } finally {
      await runtime.stop();
    }
  });

  it('lets the next component start before the previous one finishes', async () => {
    current = await project({ 'main.ww': 'in = input cli {}\nt = transform echo {}\nout = output console {}\n' });
    let printed: () => string = () => '';
    const registry = createComponentRegistry().register(
      'transform',
      'echo',
      () => ({
        async handle(_message, context) {
          const writer = context.stream();
          await writer.write('first');
          // Only continue once the output has printed the first chunk: a stream, not a batch.
          await waitFor(() => printed().includes('first'));
          await writer.write(' second');
          return undefined;
        },
      }),
      { replace: true },
    );
    const { runtime, stdout } = await started(await current.load(), { registry, streams });
    printed = stdout;
    try {
      expect((await runtime.ask(undefined, 'go')).text).toBe('first second');
      expect(stdout()).toBe('first second\n');
    } finally {
      await runtime.stop();
    }
  });

  it('maps a stream chunk by chunk through a component that accepts streams', async () => {
    current = await project({
      'main.ww': 'in = input cli {}\nt = transform echo { streaming = true, to = [u] }\nu = transform uppercase {}\nout = output console {}\n',
    });
    const { runtime, stdout } = await started(await current.load(), { streams });
    try {
      const session = await runtime.session();
      const events = session.events();
      expect((await session.ask('quiet words here')).text).toBe('QUIET WORDS HERE');
      expect(stdout()).toBe('QUIET WORDS HERE\n');
      const chunks = (await eventsUntil(events, 'turn.completed')).filter((event) => event.event_type === 'stream.chunk' && event.component_source === 'u');
      expect(chunks.map((event) => (event.payload as { data: string | null }).data ?? '').join('')).toBe('QUIET WORDS HERE');
    } finally {
      await runtime.stop();
    }
  });

  it('hands a stream over whole to a component that does not accept streams, and to pipes', async () => {
    current = await project({
      'main.ww': 'in = input cli {}\nt = transform echo { streaming = true, to = [u] }\nu = transform template { template = "[{{input}}]", pipes = ["p.ts::f"] }\n',
      'p.ts': 'export const f = (payload: unknown) => ({ input: String(payload) + "!" });\n',
    });
    const { runtime } = await started(await current.load(), { streams });
    try {
      expect((await runtime.ask(undefined, 'a b c')).text).toBe('[a b c!]');
    } finally {
      await runtime.stop();
    }
  });

  it('sends a streamed reply with no output back to the session, whole in the turn result', async () => {
    current = await project({ 'main.ww': 'in = input cli {}\nt = transform uppercase { streaming = true }\n' });
    const { runtime } = await started(await current.load(), { streams });
    try {
      const result = await runtime.ask(undefined, 'streamed reply');
      expect(result.text).toBe('STREAMED REPLY');
      expect(result.replies).toHaveLength(1);
    } finally {
      await runtime.stop();
    }
  });

  it('slows a fast producer down to its reader (backpressure) and stops it when the reader stops', async () => {
    current = await project({ 'main.ww': 'in = input cli {}\nt = transform echo {}\nout = output console {}\n' });
    let produced = 0;
    let consumed = 0;
    let maxAhead = 0;
    let producerAborted = false;
    const registry = createComponentRegistry()
      .register(
        'transform',
        'echo',
        () => ({
          async handle(_message, context) {
            const writer = context.stream();
            for (let index = 0; index < 400 && !writer.signal.aborted; index++) {
              await writer.write(`${index} `);
              produced++;
              maxAhead = Math.max(maxAhead, produced - consumed);
            }
            producerAborted = writer.signal.aborted;
            return undefined;
          },
        }),
        { replace: true },
      )
      .register(
        defineComponent({
          kind: 'output',
          type: 'console',
          acceptsStreams: true,
          create: () => ({
            async handle(message) {
              for await (const chunk of message.stream!) {
                consumed++;
                if (consumed % 50 === 0) await new Promise((resolve) => setTimeout(resolve, 5));
                if (consumed === 300) break; // stop reading early
              }
              return 'read enough';
            },
          }),
        }),
        { replace: true },
      );
    const { runtime } = await started(await current.load(), { registry, streams });
    try {
      const result = await runtime.ask(undefined, 'go');
      expect(result.text).toBe('read enough');
      expect(maxAhead).toBeLessThanOrEqual(64 + 2);
      expect(consumed).toBe(300);
      expect(producerAborted).toBe(true);
      expect(produced).toBeLessThan(400);
    } finally {
      await runtime.stop();
    }
  });

});

describe('in-process transport', () => {
  it('makes a reader see a producer failure as an error, not a silent end', async () => {
    const transport = createInProcessTransport({ highWaterMark: 4 });
    const address = { sessionId: 's', streamId: 's1', source: 'p', target: 'reader' };
    const sink = await transport.open(address);
    const reader = await transport.read(address);
    await sink.write('a');
    await sink.abort(new Error('producer crashed'));
    const seen: StreamChunk[] = [];
    await expect(
      (async () => {
        for await (const chunk of reader) seen.push(chunk);
      })(),
    ).rejects.toThrow('producer crashed');
    expect(seen.map((chunk) => chunk.data)).toEqual(['a']);
    await expect(transport.read(address)).rejects.toThrow(/already read/);
  });

  it('fails a reader whose producer went silent after the idle timeout', async () => {
    const transport = createInProcessTransport({ idleTimeoutMs: 50 });
    const address = { sessionId: 's', streamId: 's2', source: 'p', target: 'reader' };
    await transport.open(address);
    const reader = (await transport.read(address))[Symbol.asyncIterator]();
    await expect(reader.next()).rejects.toMatchObject({ code: 'WW_RUNTIME_STREAM' });
  });
});
