/**
 * One way to pull from either an async iterable or a web ReadableStream (internal).
 */
import { WoodworkStreamError } from './errors.js';

/** An async iterable, a web stream or a plain iterable (an array): what the helpers of this package read from. */
export type ChunkSource<T> = AsyncIterable<T> | ReadableStream<T> | Iterable<T>;

/** An iterator whose `return` cancels a web stream even while a read is pending. */
export function iterate<T>(source: ChunkSource<T>): AsyncIterator<T> {
  // A StreamReader: through its ReadableStream, whose cancel stops the reader at once (as its
  // onStop says) even while a read waits for a chunk that may never come.
  const readable = (source as { readable?: unknown; detach?: unknown }).readable;
  if (typeof (source as { detach?: unknown }).detach === 'function' && readable instanceof ReadableStream) {
    source = readable as ReadableStream<T>;
  }
  if (source !== null && typeof source === 'object' && typeof (source as ReadableStream<T>).getReader === 'function') {
    // A web stream (the AI SDK's textStream is one) is read with a reader even where it is also
    // async iterable, because an iterator's `return` waits for a pending read to settle first.
    const reader = (source as ReadableStream<T>).getReader();
    return {
      next: () => reader.read() as Promise<IteratorResult<T>>,
      return: async (value?: unknown) => {
        await reader.cancel(value);
        return { done: true, value: undefined };
      },
    };
  }
  if (source !== null && typeof source === 'object' && Symbol.asyncIterator in source) {
    return (source as AsyncIterable<T>)[Symbol.asyncIterator]();
  }
  if (source !== null && typeof source === 'object' && Symbol.iterator in source) {
    const iterator = (source as Iterable<T>)[Symbol.iterator]();
    return {
      next: async () => iterator.next(),
      return: async (value?: unknown) => iterator.return?.(value as T) ?? { done: true, value: undefined },
    };
  }
  throw new WoodworkStreamError('WW_STREAM_INVALID_OPTION', 'expected an async iterable, a ReadableStream or an iterable (not a string)');
}
