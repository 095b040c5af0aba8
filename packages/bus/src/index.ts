/**
 * @woodwork/bus: one message-bus contract — the envelope, the `Bus` users call, the adapter
 * specification brokers implement — with `createBus(url)` choosing the adapter.
 */
export { createBus, DEFAULT_BUS_URL, SUPPORTED_BUS_SCHEMES } from './create-bus.js';
export {
  createBusFromAdapter,
  computeBackoffDelay,
  deadLetterTopic,
  DeduplicationWindow,
  DEAD_LETTER_EVENT_TYPE,
  DEFAULT_BACKOFF,
  ISOLATION_LIMIT_MS,
  DEFAULT_SUBSCRIBE_OPTIONS,
  REDRIVEN_EVENT_TYPE,
} from './bus.js';
export type { DeadLetterPayload, RedrivenPayload } from './bus.js';
export { createEnvelope, checkEnvelope, decodeEnvelope, encodeEnvelope } from './envelope.js';
export type { Envelope, EnvelopeCheck, EnvelopeInit, EnvelopeRouting, EnvelopeTrace } from './envelope.js';
export { WoodworkBusError, serializeError } from './errors.js';
export type { BusErrorCode, SerializedError } from './errors.js';
export type {
  AdapterDelivery,
  AdapterReplayRequest,
  AdapterSubscribeRequest,
  AdapterSubscription,
  BusAdapterFactory,
  BusAdapterV1,
  BusCapabilities,
  BusHealth,
  ReplayedRecord,
  WireRecord,
} from './adapter.js';
export type {
  BackoffOptions,
  Bus,
  CreateBusOptions,
  DeadLetter,
  DeliveryContext,
  MessageHandler,
  ReplayOptions,
  ReplayedEnvelope,
  SubscribeOptions,
  Subscription,
} from './types.js';
export { createMemoryAdapter, deleteMemoryBroker } from './adapters/memory/index.js';
export type { MemoryAdapterOptions } from './adapters/memory/index.js';
// Broker adapters load lazily through createBus(url); only their option types are exported here.
export type { RedisAdapterOptions } from './adapters/redis/index.js';
export type { NatsAdapterOptions } from './adapters/nats/index.js';
export type { KafkaAdapterOptions } from './adapters/kafka/index.js';
