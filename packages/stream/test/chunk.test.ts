import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { chunkFromJson, chunkToJson, WoodworkStreamError } from '@woodwork/stream';
import { chunkDataSize, decodeChunk, encodeChunk, payloadDataSize, payloadWireBytes } from '../src/chunk.js';

const MAX = 1024;

describe('chunk codec', () => {
  it('round-trips text, json and binary through the JSON wire payload', () => {
    const bytes = new Uint8Array(randomBytes(300));
    const cases = [
      ['héllo ✓ \u0000 🐢', { data_type: 'text', data: 'héllo ✓ \u0000 🐢' }],
      [{ data_type: 'json', data: { a: [1, null, 'x'] }, metadata: { t: 1 } }, { data_type: 'json', data: { a: [1, null, 'x'] } }],
      [bytes, { data_type: 'bytes', media_type: 'application/octet-stream' }],
      [{ data_type: 'audio', data: bytes, media_type: 'audio/wav' }, { data_type: 'audio', media_type: 'audio/wav' }],
      [{ data_type: 'image', data: new Uint8Array(0), media_type: 'image/png' }, { data_type: 'image', media_type: 'image/png' }],
    ] as const;
    for (const [input, expected] of cases) {
      const payload = JSON.parse(JSON.stringify(encodeChunk(input, MAX, 's')));
      const chunk = decodeChunk(payload, 's', 4, false)!;
      expect(chunk).toMatchObject({ stream_id: 's', chunk_index: 4, is_final: false, ...expected });
      if (chunk.data instanceof Uint8Array) {
        const sent = (input as { data?: Uint8Array }).data ?? (input as Uint8Array);
        expect(Buffer.from(chunk.data).equals(Buffer.from(sent))).toBe(true);
      }
      expect(chunkFromJson(JSON.parse(JSON.stringify(chunkToJson(chunk))))).toEqual(chunk);
    }
  });

  it('sizes a chunk the same from its payload (producer) as from the chunk (reader), and bounds its JSON', () => {
    const cases = [
      'héllo ✓ 🐢 "quoted" \\ \n',
      '',
      { data_type: 'json', data: { a: [1, null, 'x', 'é'], b: { c: true } }, metadata: { t: 1 } },
      new Uint8Array(randomBytes(301)),
      new Uint8Array(randomBytes(302)),
      new Uint8Array(randomBytes(303)),
      { data_type: 'image', data: new Uint8Array(0), media_type: 'image/png' },
    ] as const;
    for (const input of cases) {
      const payload = encodeChunk(input, MAX, 's');
      const size = payloadDataSize(payload);
      const received = JSON.parse(JSON.stringify(payload));
      expect(chunkDataSize(decodeChunk(received, 's', 0, false))).toBe(size);
      expect(Buffer.byteLength(JSON.stringify(payload))).toBeLessThanOrEqual(payloadWireBytes(payload, size));
    }
    expect(payloadDataSize(encodeChunk(new Uint8Array(300), MAX, 's'))).toBe(300);
    expect(payloadDataSize(encodeChunk('abc', MAX, 's'))).toBe(3);
    expect(payloadDataSize({ data_type: null, data: null })).toBe(0);
    expect(chunkDataSize(null)).toBe(0);
  });

  it('decodes a data-less final marker as null', () => {
    expect(decodeChunk({ data_type: null, data: null }, 's', 9, true)).toBeNull();
  });

  it('rejects what cannot be sent, with an actionable message', () => {
    const codeOf = (fn: () => unknown) => {
      try {
        fn();
      } catch (error) {
        expect(WoodworkStreamError.isInstance(error)).toBe(true);
        return `${(error as WoodworkStreamError).code}: ${(error as Error).message}`;
      }
      throw new Error('did not throw');
    };
    expect(codeOf(() => encodeChunk({ data_type: 'audio', data: new Uint8Array(1) }, MAX, 's'))).toMatch(/INVALID_CHUNK.*media_type/);
    expect(codeOf(() => encodeChunk({ data_type: 'video' } as never, MAX, 's'))).toMatch(/INVALID_CHUNK.*unknown data_type/);
    expect(codeOf(() => encodeChunk(42 as never, MAX, 's'))).toMatch(/INVALID_CHUNK/);
    expect(codeOf(() => encodeChunk({ data_type: 'json', data: undefined } as never, MAX, 's'))).toMatch(/INVALID_CHUNK/);
    expect(codeOf(() => encodeChunk(new Uint8Array(MAX + 1), MAX, 's'))).toMatch(/CHUNK_TOO_LARGE.*1025/);
    expect(codeOf(() => encodeChunk('é'.repeat(MAX), MAX, 's'))).toMatch(/CHUNK_TOO_LARGE/);
    expect(codeOf(() => decodeChunk({ data_type: 'text', data: 3 }, 's', 0, false))).toMatch(/INVALID_CHUNK/);
  });
});

describe('WoodworkStreamError', () => {
  it('has a code, survives duplicate installs by marker, and serialises', () => {
    const error = new WoodworkStreamError('WW_STREAM_GAP', 'chunk 2 never arrived', { streamId: 's', isRetryable: true });
    expect(WoodworkStreamError.isInstance(error)).toBe(true);
    expect(WoodworkStreamError.isInstance(new Error('x'))).toBe(false);
    expect(WoodworkStreamError.isInstance({ [Symbol.for('woodwork.stream.error')]: true })).toBe(true);
    expect(error.toJSON()).toMatchObject({ name: 'WoodworkStreamError', code: 'WW_STREAM_GAP', message: 'chunk 2 never arrived' });
  });
});
