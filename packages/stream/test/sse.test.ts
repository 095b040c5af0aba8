import { describe, expect, it } from 'vitest';
import {
  fromServerSentEvents,
  parseServerSentEvents,
  resumeIndexFromLastEventId,
  toServerSentEvents,
  WoodworkStreamError,
} from '@woodwork/stream';
import type { ServerSentEvent, StreamChunk } from '@woodwork/stream';

const text = (index: number, data: string, isFinal = false): StreamChunk => ({
  stream_id: 's1',
  chunk_index: index,
  is_final: isFinal,
  metadata: {},
  data_type: 'text',
  data,
});

async function* from<T>(items: T[], error?: Error): AsyncGenerator<T> {
  for (const item of items) yield item;
  if (error) throw error;
}

async function bodyText(body: ReadableStream<Uint8Array>): Promise<string> {
  return new Response(body).text();
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

describe('toServerSentEvents', () => {
  it('writes one event per chunk with id = chunk_index, then end', async () => {
    const body = await bodyText(toServerSentEvents(from([text(0, 'Hel'), text(1, 'lo\nworld')]), { retryMs: 2000 }));
    expect(body).toBe(
      'retry: 2000\n\n' +
        'id: 0\nevent: chunk\ndata: {"stream_id":"s1","chunk_index":0,"is_final":false,"data_type":"text","data":"Hel"}\n\n' +
        'id: 1\nevent: chunk\ndata: {"stream_id":"s1","chunk_index":1,"is_final":false,"data_type":"text","data":"lo\\nworld"}\n\n' +
        'event: end\ndata: {}\n\n',
    );
  });

  it('ends with a stream-error event (not a silent end) when the stream fails', async () => {
    const failure = new WoodworkStreamError('WW_STREAM_IDLE_TIMEOUT', 'the producer died');
    const body = await bodyText(toServerSentEvents(from([text(0, 'a')], failure)));
    expect(body).toContain('event: stream-error\ndata: {"name":"WoodworkStreamError","message":"the producer died","code":"WW_STREAM_IDLE_TIMEOUT"');
    const error = await collect(fromServerSentEvents(toServerSentEvents(from([text(0, 'a')], failure)))).catch((caught: unknown) => caught);
    expect(WoodworkStreamError.isInstance(error) && error.code).toBe('WW_STREAM_IDLE_TIMEOUT');
  });

  it('sends keep-alive comments while the source is quiet', async () => {
    async function* slow(): AsyncGenerator<StreamChunk> {
      await new Promise((resolve) => setTimeout(resolve, 120));
      yield text(0, 'late', true);
    }
    const body = await bodyText(toServerSentEvents(slow(), { keepAliveMs: 30 }));
    expect(body.startsWith(': keep-alive\n\n')).toBe(true);
    expect(body).toContain('"data":"late"');
  });

  it('stops its source when the body is cancelled', async () => {
    let stopped = false;
    async function* endless(): AsyncGenerator<StreamChunk> {
      try {
        for (let i = 0; ; i++) yield text(i, `t${i}`);
      } finally {
        stopped = true;
      }
    }
    const reader = toServerSentEvents(endless()).getReader();
    await reader.read();
    await reader.read();
    await reader.cancel('client went away');
    expect(stopped).toBe(true);
  });
});

describe('parseServerSentEvents', () => {
  it('follows the standard: CRLF/LF/CR, BOM, comments, multi-line data, id, retry, split reads', async () => {
    const wire = '\uFEFF: hello\r\nevent: a\r\ndata: one\r\ndata:two\r\nid: 7\r\n\r\ndata: x\rretry: 99\r\rid\n\ndata: no end';
    // Split into pieces at every position, byte by byte, to exercise CRLF across reads.
    const bytes = new TextEncoder().encode(wire);
    const pieces = Array.from(bytes, (byte) => new Uint8Array([byte]));
    const events = await collect(parseServerSentEvents(from(pieces)));
    expect(events).toEqual<ServerSentEvent[]>([
      { event: 'a', data: 'one\ntwo', id: '7', retry: undefined },
      { event: 'message', data: 'x', id: '7', retry: 99 },
    ]);
  });
});

describe('fromServerSentEvents', () => {
  it('round-trips chunks, binary included, and stops at end', async () => {
    const binary: StreamChunk = { stream_id: 's1', chunk_index: 1, is_final: false, metadata: { n: 1 }, data_type: 'audio', data: new Uint8Array([0, 1, 255]), media_type: 'audio/wav' };
    const chunks = [text(0, 'a'), binary, { ...text(2, 'z'), is_final: true }];
    expect(await collect(fromServerSentEvents(toServerSentEvents(from(chunks))))).toEqual(chunks);
  });

  it('throws WW_STREAM_TRUNCATED when the body stops before end, and skips repeats', async () => {
    const wire = 'id: 0\nevent: chunk\ndata: {"stream_id":"s","chunk_index":0,"is_final":false,"data_type":"text","data":"a"}\n\n'.repeat(2);
    const got: StreamChunk[] = [];
    const error = await (async () => {
      for await (const chunk of fromServerSentEvents(from([wire]))) got.push(chunk);
    })().catch((caught: unknown) => caught);
    expect(got.map((chunk) => chunk.data)).toEqual(['a']);
    expect(WoodworkStreamError.isInstance(error) && error.code).toBe('WW_STREAM_TRUNCATED');
  });

  it('turns Last-Event-ID into the index to resume from', () => {
    expect(resumeIndexFromLastEventId('41')).toBe(42);
    expect(resumeIndexFromLastEventId(' 0 ')).toBe(1);
    expect(resumeIndexFromLastEventId(null)).toBeUndefined();
    expect(resumeIndexFromLastEventId('abc')).toBeUndefined();
  });
});
