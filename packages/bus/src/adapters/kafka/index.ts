/** The kafka bus adapter: `createKafkaAdapter(url, options)` for `kafka://` URLs (see README.md). */
export { createKafkaAdapter, KafkaAdapter, KAFKA_CAPABILITIES } from './kafka-adapter.js';
export type { KafkaAdapterOptions } from './options.js';
export type { KafkaLogLevel, KafkaLogLine, KafkaLogSink } from './log.js';
export { kafkaTopicName } from './topic-name.js';
