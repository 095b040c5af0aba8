/**
 * Kafka topic names may only use `[a-zA-Z0-9._-]`, at most 249 characters, and not be `.` or `..`.
 * Woodwork topics are free-form strings, so the adapter maps each one to a legal name.
 */
import { createHash } from 'node:crypto';

const LEGAL = /^[A-Za-z0-9._-]{1,249}$/;
const MAX_LENGTH = 249;
const HASH_LENGTH = 10;

/**
 * The Kafka topic a Woodwork topic is stored in. Legal names are used as they are, so `kcat -t`
 * finds them under the name users wrote. Any other name keeps its legal characters (the rest
 * become `_`) and gets `-` plus 10 hex characters of its SHA-256, so two names that differ only
 * in illegal characters (`orders/eu`, `orders:eu`) never share a topic.
 */
export function kafkaTopicName(topic: string): string {
  if (topic.length === 0) throw new RangeError('a topic name must not be empty');
  if (LEGAL.test(topic) && topic !== '.' && topic !== '..') return topic;
  const hash = createHash('sha256').update(topic).digest('hex').slice(0, HASH_LENGTH);
  const readable = topic.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, MAX_LENGTH - HASH_LENGTH - 1);
  return `${readable}-${hash}`;
}
