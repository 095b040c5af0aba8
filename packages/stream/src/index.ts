/**
 * @woodwork/stream: ordered, back-pressured, resumable chunk streams between Woodwork components
 * over any `@woodwork/bus` — LLM tokens, audio frames, long tool output — with Server-Sent
 * Events and AI SDK text-stream interop.
 */
export { createStreamManager } from './manager.js';
export type { CreateStreamOptions, StreamAddress, StreamManager } from './manager.js';
export { DEFAULT_STREAM_OPTIONS } from './options.js';
export type { StreamManagerOptions } from './options.js';
export type {
  PipeFromOptions,
  StreamChunkSource,
  StreamProducer,
  StreamProducerState,
} from './producer.js';
export type { OpenStreamOptions, StopBehavior, StreamReader, StreamReaderState, StreamRestart } from './reader.js';
export { chunkFromJson, chunkToJson, DEFAULT_BINARY_MEDIA_TYPE } from './chunk.js';
export type {
  BinaryChunk,
  BinaryDataType,
  JsonChunk,
  JsonValue,
  StreamChunk,
  StreamChunkInit,
  StreamChunkInput,
  StreamChunkPayload,
  StreamDataType,
  StreamMetadata,
  TextChunk,
} from './chunk.js';
export { DEFAULT_TOPIC_PREFIX, STREAM_EVENT, streamControlTopic, streamDataTopic } from './protocol.js';
export type {
  StreamCancelPayload,
  StreamChunksPayload,
  StreamCreditPayload,
  StreamErrorPayload,
  StreamEventType,
  StreamHeartbeatPayload,
  StreamRef,
} from './protocol.js';
export { WoodworkStreamError } from './errors.js';
export { publishAgain } from './publish-retry.js';
export type { PublishRetryOptions, PublishRetryOutcome } from './publish-retry.js';
export type { StreamErrorCode, WoodworkStreamErrorOptions } from './errors.js';
export {
  fromServerSentEvents,
  parseServerSentEvents,
  resumeIndexFromLastEventId,
  SSE_HEADERS,
  toServerSentEvents,
  toTextStream,
} from './sse.js';
export type { ServerSentEvent, ServerSentEventsOptions } from './sse.js';
export type { ChunkSource } from './iterate.js';
