/**
 * Chunks: what a stream carries, as a program sees it (`StreamChunk`, with bytes as
 * `Uint8Array`) and as it travels in a `stream.chunk` envelope's payload (`StreamChunkPayload`,
 * plain JSON with bytes in base64, so binary survives every broker and every language).
 */
import { WoodworkStreamError } from './errors.js';

/** `text` and `json` travel as themselves; `bytes`, `audio` and `image` as base64 with a media type. */
export type StreamDataType = 'text' | 'json' | 'bytes' | 'audio' | 'image';

/** The binary data types. */
export type BinaryDataType = 'bytes' | 'audio' | 'image';

export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/** Free-form data a producer attaches to a chunk (token counts, timestamps, a voice id …). */
export type StreamMetadata = Readonly<Record<string, JsonValue>>;

interface StreamChunkBase {
  readonly stream_id: string;
  /** 0, 1, 2, … without holes; a reader yields chunks strictly in this order. */
  readonly chunk_index: number;
  /** The last chunk of the stream. */
  readonly is_final: boolean;
  /** `{}` when the producer attached none. */
  readonly metadata: StreamMetadata;
}

export interface TextChunk extends StreamChunkBase {
  readonly data_type: 'text';
  readonly data: string;
}

export interface JsonChunk extends StreamChunkBase {
  readonly data_type: 'json';
  readonly data: JsonValue;
}

export interface BinaryChunk extends StreamChunkBase {
  readonly data_type: BinaryDataType;
  readonly data: Uint8Array;
  /** IANA media type: `audio/pcm;rate=16000`, `image/png`; `application/octet-stream` for plain bytes. */
  readonly media_type: string;
}

/** One chunk of a stream, as a reader yields it. */
export type StreamChunk = TextChunk | JsonChunk | BinaryChunk;

/** A chunk to send, spelled out. `media_type` is required for `audio` and `image`. */
export type StreamChunkInit =
  | { readonly data_type: 'text'; readonly data: string; readonly metadata?: StreamMetadata }
  | { readonly data_type: 'json'; readonly data: JsonValue; readonly metadata?: StreamMetadata }
  | {
      readonly data_type: BinaryDataType;
      readonly data: Uint8Array;
      readonly media_type?: string;
      readonly metadata?: StreamMetadata;
    };

/** What `send` takes: a string is a `text` chunk, a `Uint8Array` a `bytes` chunk. */
export type StreamChunkInput = string | Uint8Array | StreamChunkInit;

/**
 * The payload of a `stream.chunk` envelope. `data_type` and `data` are null only on a final
 * marker that carries no data (`end()` without an argument).
 */
export interface StreamChunkPayload {
  data_type: StreamDataType | null;
  /** Text, any JSON value, or base64 for the binary types. */
  data: JsonValue;
  /** Present (`base64`) exactly when `data_type` is binary. */
  encoding?: 'base64';
  media_type?: string;
  metadata?: Record<string, JsonValue>;
}

const DATA_TYPES: ReadonlySet<string> = new Set(['text', 'json', 'bytes', 'audio', 'image']);
const EMPTY_METADATA: StreamMetadata = Object.freeze({});
export const DEFAULT_BINARY_MEDIA_TYPE = 'application/octet-stream';

export function isBinaryDataType(type: unknown): type is BinaryDataType {
  return type === 'bytes' || type === 'audio' || type === 'image';
}

function invalid(message: string, streamId?: string): WoodworkStreamError {
  return new WoodworkStreamError('WW_STREAM_INVALID_CHUNK', message, streamId === undefined ? {} : { streamId });
}

function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

function fromBase64(text: string): Uint8Array {
  const buffer = Buffer.from(text, 'base64');
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

function tooLarge(size: number, maxBytes: number, streamId: string): WoodworkStreamError {
  return new WoodworkStreamError(
    'WW_STREAM_CHUNK_TOO_LARGE',
    `a chunk of ${size} bytes is larger than maxChunkBytes (${maxBytes}); split it or raise the limit`,
    { streamId },
  );
}

function checkMetadata(metadata: unknown, streamId: string): Record<string, JsonValue> | undefined {
  if (metadata === undefined || metadata === null) return undefined;
  if (typeof metadata !== 'object' || Array.isArray(metadata)) throw invalid('chunk metadata must be an object', streamId);
  return Object.keys(metadata).length === 0 ? undefined : (metadata as Record<string, JsonValue>);
}

/**
 * Turns what `send` was given into the wire payload, checking it and its size. Throws a
 * WoodworkStreamError (INVALID_CHUNK or CHUNK_TOO_LARGE), so a bad chunk never reaches the bus.
 */
export function encodeChunk(input: StreamChunkInput, maxBytes: number, streamId: string): StreamChunkPayload {
  if (typeof input === 'string') {
    // UTF-8 is at most 3 bytes per UTF-16 unit: only long strings need counting.
    if (input.length * 3 > maxBytes && Buffer.byteLength(input) > maxBytes) throw tooLarge(Buffer.byteLength(input), maxBytes, streamId);
    return { data_type: 'text', data: input };
  }
  if (input instanceof Uint8Array) {
    if (input.byteLength > maxBytes) throw tooLarge(input.byteLength, maxBytes, streamId);
    return { data_type: 'bytes', data: toBase64(input), encoding: 'base64', media_type: DEFAULT_BINARY_MEDIA_TYPE };
  }
  if (typeof input !== 'object' || input === null) {
    throw invalid(`a chunk must be a string, a Uint8Array or { data_type, data }; got ${input === null ? 'null' : typeof input}`, streamId);
  }
  const type = (input as { data_type?: unknown }).data_type;
  const metadata = checkMetadata(input.metadata, streamId);
  const withMetadata = (payload: StreamChunkPayload): StreamChunkPayload => (metadata ? { ...payload, metadata } : payload);
  if (type === 'text') {
    if (typeof input.data !== 'string') throw invalid('a text chunk needs string data', streamId);
    return withMetadata(encodeChunk(input.data, maxBytes, streamId));
  }
  if (type === 'json') {
    let text: string | undefined;
    try {
      text = JSON.stringify(input.data);
    } catch (error) {
      throw invalid(`a json chunk's data cannot be written as JSON: ${(error as Error).message}`, streamId);
    }
    if (text === undefined) throw invalid('a json chunk needs JSON data (undefined, functions and symbols are not)', streamId);
    if (text.length > maxBytes / 3 && Buffer.byteLength(text) > maxBytes) throw tooLarge(Buffer.byteLength(text), maxBytes, streamId);
    return withMetadata({ data_type: 'json', data: input.data as JsonValue });
  }
  if (isBinaryDataType(type)) {
    const binary = input as Extract<StreamChunkInit, { data_type: BinaryDataType }>;
    if (!(binary.data instanceof Uint8Array)) throw invalid(`a ${type} chunk needs Uint8Array data`, streamId);
    if (binary.data.byteLength > maxBytes) throw tooLarge(binary.data.byteLength, maxBytes, streamId);
    const mediaType = binary.media_type ?? (type === 'bytes' ? DEFAULT_BINARY_MEDIA_TYPE : undefined);
    if (typeof mediaType !== 'string' || mediaType === '') {
      throw invalid(`a ${type} chunk needs a media_type (for example ${type === 'audio' ? 'audio/wav' : 'image/png'})`, streamId);
    }
    return withMetadata({ data_type: type, data: toBase64(binary.data), encoding: 'base64', media_type: mediaType });
  }
  throw invalid(`unknown data_type ${JSON.stringify(type)}; use text, json, bytes, audio or image`, streamId);
}

/**
 * What a chunk counts for in the byte window (`window_bytes`): bytes of binary data, UTF-16 code
 * units of text, characters of a JSON value's JSON text, 0 for a bare end marker. Cheap for
 * text and bytes, the same from the payload (producer) as from the chunk (reader).
 */
export function payloadDataSize(payload: StreamChunkPayload): number {
  const data = payload.data;
  if (payload.data_type === null) return 0;
  if (payload.encoding === 'base64' && typeof data === 'string') {
    const padding = data.endsWith('==') ? 2 : data.endsWith('=') ? 1 : 0;
    return (data.length / 4) * 3 - padding;
  }
  if (payload.data_type === 'text' && typeof data === 'string') return data.length;
  return JSON.stringify(data ?? null).length;
}

/** `payloadDataSize` of a chunk as a reader holds it. */
export function chunkDataSize(chunk: StreamChunk | null): number {
  if (chunk === null) return 0;
  if (chunk.data instanceof Uint8Array) return chunk.data.byteLength;
  if (chunk.data_type === 'text') return chunk.data.length;
  return JSON.stringify(chunk.data ?? null).length;
}

/**
 * At most how many bytes a payload takes in an envelope's JSON, given its `payloadDataSize`:
 * UTF-8 is at most 3 bytes per UTF-16 unit, base64 is 4 ASCII bytes per 3 (JSON writes rare control
 * characters as 6; the message limit leaves twice that room). An upper bound, so
 * coalesced chunks never outgrow the message size one lone chunk is allowed.
 */
export function payloadWireBytes(payload: StreamChunkPayload, dataSize: number): number {
  // The payload's own field names and punctuation, and its media type.
  let bytes = 96 + (payload.media_type?.length ?? 0);
  bytes += payload.encoding === 'base64' ? Math.ceil(dataSize / 3) * 4 : dataSize * 3;
  if (payload.metadata) bytes += JSON.stringify(payload.metadata).length * 3;
  return bytes;
}

/**
 * Reads a `stream.chunk` payload back into a chunk. Returns null for a final marker without data,
 * and throws INVALID_CHUNK for a payload that is not one (a foreign or corrupted producer).
 */
export function decodeChunk(
  payload: unknown,
  streamId: string,
  chunkIndex: number,
  isFinal: boolean,
): StreamChunk | null {
  if (typeof payload !== 'object' || payload === null) throw invalid(`chunk ${chunkIndex} has no payload object`, streamId);
  const record = payload as Partial<StreamChunkPayload>;
  const type = record.data_type;
  if (type === null || type === undefined) {
    if (isFinal) return null;
    throw invalid(`chunk ${chunkIndex} has no data_type`, streamId);
  }
  if (typeof type !== 'string' || !DATA_TYPES.has(type)) throw invalid(`chunk ${chunkIndex} has unknown data_type ${JSON.stringify(type)}`, streamId);
  const metadata = record.metadata && typeof record.metadata === 'object' ? (record.metadata as StreamMetadata) : EMPTY_METADATA;
  const base = { stream_id: streamId, chunk_index: chunkIndex, is_final: isFinal, metadata };
  if (type === 'text') {
    if (typeof record.data !== 'string') throw invalid(`text chunk ${chunkIndex} has non-string data`, streamId);
    return { ...base, data_type: 'text', data: record.data };
  }
  if (type === 'json') return { ...base, data_type: 'json', data: (record.data ?? null) as JsonValue };
  if (typeof record.data !== 'string') throw invalid(`${type} chunk ${chunkIndex} has no base64 data`, streamId);
  return {
    ...base,
    data_type: type as BinaryDataType,
    data: fromBase64(record.data),
    media_type: typeof record.media_type === 'string' ? record.media_type : DEFAULT_BINARY_MEDIA_TYPE,
  };
}

/** The JSON form of a chunk (bytes in base64), as the Server-Sent Events helpers write it. */
export function chunkToJson(chunk: StreamChunk): Record<string, JsonValue> {
  const json: Record<string, JsonValue> = {
    stream_id: chunk.stream_id,
    chunk_index: chunk.chunk_index,
    is_final: chunk.is_final,
    data_type: chunk.data_type,
    data: chunk.data instanceof Uint8Array ? toBase64(chunk.data) : chunk.data,
  };
  if (isBinaryDataType(chunk.data_type)) {
    json.encoding = 'base64';
    json.media_type = (chunk as BinaryChunk).media_type;
  }
  if (Object.keys(chunk.metadata).length > 0) json.metadata = chunk.metadata as Record<string, JsonValue>;
  return json;
}

/** The inverse of `chunkToJson`. */
export function chunkFromJson(json: unknown): StreamChunk {
  if (typeof json !== 'object' || json === null) throw invalid('a chunk must be a JSON object');
  const record = json as Record<string, unknown>;
  const streamId = typeof record.stream_id === 'string' ? record.stream_id : '';
  const index = record.chunk_index;
  if (!Number.isInteger(index) || (index as number) < 0) throw invalid('a chunk needs a non-negative integer chunk_index', streamId);
  const chunk = decodeChunk(record, streamId, index as number, record.is_final === true);
  if (chunk === null) throw invalid(`chunk ${String(index)} has no data`, streamId);
  return chunk;
}
