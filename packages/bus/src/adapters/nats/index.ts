/**
 * `nats://` — the NATS JetStream adapter. `createBus('nats://127.0.0.1:4222')` loads it; the
 * driver packages `@nats-io/transport-node` and `@nats-io/jetstream` are loaded on connect.
 */
import type { BusAdapterFactory } from '../../adapter.js';
import { NatsAdapter } from './adapter.js';

export const createNatsAdapter: BusAdapterFactory = (url, options) => new NatsAdapter(url, options);

export { NatsAdapter } from './adapter.js';
export { DEFAULT_NATS_OPTIONS } from './options.js';
export type { NatsAdapterOptions } from './options.js';
export { keyToken, nameToken, partitionOf, recordSubject, topicNames } from './names.js';
export type { TopicNames } from './names.js';
