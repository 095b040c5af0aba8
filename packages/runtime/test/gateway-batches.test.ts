/**
 * The SSE stream writes the events a session's reader already holds as one piece (`inBatches`),
 * and each event exactly as Hono's `writeSSE` would (`sseMessage`).
 */
import { describe, expect, it } from 'vitest';
import { inBatches, sseMessage } from '../src/gateway/session-stream.js';
import type { SessionEvent } from '../src/types.js';

/** A source like a session's reader: items already queued come at once, the rest when pushed. */
function queueSource<T>() {
  const queue: T[] = [];
  let wake: (() => void) | undefined;
  let ended = false;
  let failure: unknown;
  let returned = false;
  const source: AsyncIterable<T> = {
    [Symbol.asyncIterator]: () => ({
      async next(): Promise<IteratorResult<T>> {
        for (;;) {
          const item = queue.shift();
          if (item !== undefined) return { done: false, value: item };
          if (failure !== undefined) throw failure;
          if (ended || returned) return { done: true, value: undefined };
          await new Promise<void>((resolve) => (wake = resolve));
        }
      },
      async return(): Promise<IteratorResult<T>> {
        returned = true;
        wake?.();
        return { done: true, value: undefined };
      },
    }),
  };
  const poke = () => {
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };
  return {
    source,
    push: (...items: T[]) => {
      queue.push(...items);
      poke();
    },
    end: () => {
      ended = true;
      poke();
    },
    fail: (error: unknown) => {
      failure = error;
      poke();
    },
    get returned() {
      return returned;
    },
  };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

describe('inBatches', () => {
  it('hands over what the source holds in one batch, in order, and a lone item at once', async () => {
    const source = queueSource<number>();
    const batches: number[][] = [];
    const reading = (async () => {
      for await (const batch of inBatches(source.source)) batches.push(batch);
    })();
    source.push(1, 2, 3, 4);
    await tick();
    expect(batches).toEqual([[1, 2, 3, 4]]);
    // A lone item is not held back waiting for company.
    source.push(5);
    await tick();
    expect(batches).toEqual([[1, 2, 3, 4], [5]]);
    source.push(6, 7);
    source.end();
    await reading;
    expect(batches.flat()).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it('caps a batch at max items', async () => {
    const source = queueSource<number>();
    source.push(...Array.from({ length: 10 }, (_, index) => index));
    source.end();
    const batches: number[][] = [];
    for await (const batch of inBatches(source.source, 4)) batches.push(batch);
    expect(batches.map((batch) => batch.length)).toEqual([4, 4, 2]);
    expect(batches.flat()).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('delivers what came before a failure, then throws it', async () => {
    const source = queueSource<number>();
    source.push(1, 2);
    source.fail(new Error('reader behind'));
    const seen: number[] = [];
    await expect(
      (async () => {
        for await (const batch of inBatches(source.source)) seen.push(...batch);
      })(),
    ).rejects.toThrow('reader behind');
    expect(seen).toEqual([1, 2]);
  });

  it('releases the source when the caller stops early', async () => {
    const source = queueSource<number>();
    source.push(1, 2, 3);
    for await (const batch of inBatches(source.source)) {
      expect(batch).toEqual([1, 2, 3]);
      break;
    }
    // The source's next() was still waiting: the caller's abort (here: return) ends it.
    await tick();
    expect(source.returned).toBe(true);
  });
});

describe('sseMessage', () => {
  it('writes an event as writeSSE does: event, one data line of JSON, id', () => {
    const event = { message_id: 'm-1', event_type: 'stream.chunk', session_id: 's', payload: { data: 'a\nb' } } as unknown as SessionEvent;
    expect(sseMessage(event)).toBe(`event: stream.chunk\ndata: ${JSON.stringify(event)}\nid: m-1\n\n`);
    expect(sseMessage(event).split('\n').filter((line) => line.startsWith('data: '))).toHaveLength(1);
  });
});
