/**
 * Publishing through one idempotent kafkajs producer. The idempotent producer sends one request
 * at a time per broker (that is what keeps order and dedup through retries), so sending each
 * `publish` on its own would cost a round trip per message. Instead publishes that arrive while a
 * request is in flight are sent together in the next one ("group commit"): no timer, no added
 * latency when idle, one request per round trip under load. Each caller's promise settles with
 * the request that carried its records.
 */
import type { Message, Producer, TopicMessages } from 'kafkajs';
import type { WireRecord } from '../../adapter.js';
import { WoodworkBusError } from '../../errors.js';
import { toKafkaMessage } from './records.js';

interface PendingPublish {
  readonly topic: string;
  readonly messages: Message[];
  readonly bytes: number;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
  readonly timer: ReturnType<typeof setTimeout>;
  /** The caller has its answer (sent, failed, or timed out). */
  settled: boolean;
  /** Handed to kafkajs; from then on it may be written even if the caller timed out. */
  sent: boolean;
}

export interface PublisherLimits {
  readonly publishTimeoutMs: number;
  readonly maxBatchRecords: number;
  readonly maxBatchBytes: number;
}

/** kafkajs wraps the error it gave up on; whether that one can pass on a retry decides. */
function isRetriable(error: unknown): boolean {
  const cause = (error as { cause?: { retriable?: unknown } }).cause;
  if (cause && cause.retriable !== undefined) return cause.retriable !== false;
  return (error as { retriable?: unknown }).retriable !== false;
}

/**
 * The broker no longer knows the idempotent producer's sequence (it lost the producer state in a
 * restart, or evicted it): kafkajs never resets it, so every later send to that partition fails the
 * same way (tulios/kafkajs#598). Only a new producer (a new producer id) gets through.
 */
const PRODUCER_STATE_LOST = new Set(['OUT_OF_ORDER_SEQUENCE_NUMBER', 'UNKNOWN_PRODUCER_ID', 'INVALID_PRODUCER_EPOCH']);

function lostProducerState(error: unknown): boolean {
  for (let current = error as { type?: unknown; cause?: unknown } | undefined, depth = 0; current && depth < 5; current = current.cause as typeof current, depth++) {
    if (typeof current.type === 'string' && PRODUCER_STATE_LOST.has(current.type)) return true;
  }
  return false;
}

/** Backoff between sends of a batch kafkajs gave up on with a retriable error. */
const FIRST_RETRY_MS = 200;
const MAX_RETRY_MS = 2_000;

export class KafkaPublisher {
  #retryDelayMs = FIRST_RETRY_MS;
  #producer: Producer;
  readonly #limits: PublisherLimits;
  readonly #recreate: (() => Promise<Producer>) | undefined;
  #queue: PendingPublish[] = [];
  #sending = false;
  #closed = false;
  #idleWaiters: (() => void)[] = [];

  /** `recreate`: a new, connected producer, for when the broker lost this one's state. */
  constructor(producer: Producer, limits: PublisherLimits, recreate?: () => Promise<Producer>) {
    this.#producer = producer;
    this.#limits = limits;
    this.#recreate = recreate;
  }

  /** The producer in use (it changes when the broker lost the previous one's state). */
  get producer(): Producer {
    return this.#producer;
  }

  publish(topic: string, records: readonly WireRecord[]): Promise<void> {
    if (this.#closed) {
      return Promise.reject(new WoodworkBusError('WW_BUS_CLOSED', 'kafka bus: publish after close'));
    }
    if (records.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timestamp = String(Date.now());
      const messages = records.map((record) => toKafkaMessage(record, timestamp));
      const entry: PendingPublish = {
        topic,
        messages,
        bytes: records.reduce((sum, record) => sum + (record.text === undefined ? record.body.byteLength : Buffer.byteLength(record.text)), 0),
        resolve,
        reject,
        settled: false,
        sent: false,
        timer: setTimeout(() => {
          if (entry.settled) return;
          entry.settled = true;
          // Not sent yet: drop it, so what the caller was told (not written) stays true.
          if (!entry.sent) this.#queue = this.#queue.filter((candidate) => candidate !== entry);
          reject(
            new WoodworkBusError(
              'WW_BUS_PUBLISH_FAILED',
              `kafka bus: the broker did not confirm ${records.length} record(s) on "${topic}" within ` +
                `${this.#limits.publishTimeoutMs} ms${entry.sent ? '; they may still be written — publishing again with the same message_id is safe' : ''}`,
              { isRetryable: true },
            ),
          );
        }, this.#limits.publishTimeoutMs),
      };
      this.#queue.push(entry);
      void this.#drain();
    });
  }

  /** Refuse new publishes, wait (up to `timeoutMs`) for queued ones, fail what is left. */
  async close(timeoutMs: number): Promise<void> {
    this.#closed = true;
    if (this.#queue.length > 0 || this.#sending) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        this.#idleWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    for (const entry of this.#queue) {
      if (entry.settled) continue;
      entry.settled = true;
      clearTimeout(entry.timer);
      entry.reject(new WoodworkBusError('WW_BUS_CLOSED', 'kafka bus closed before the broker confirmed this publish', { isRetryable: true }));
    }
    this.#queue = [];
  }

  async #drain(): Promise<void> {
    if (this.#sending) return;
    this.#sending = true;
    try {
      while (this.#queue.length > 0) {
        const batch = this.#takeBatch();
        if (batch.length === 0) continue;
        for (const entry of batch) entry.sent = true;
        const topicMessages: TopicMessages[] = [];
        for (const entry of batch) {
          const last = topicMessages[topicMessages.length - 1];
          if (last && last.topic === entry.topic) last.messages.push(...entry.messages);
          else topicMessages.push({ topic: entry.topic, messages: [...entry.messages] });
        }
        try {
          // acks -1: the record is on every in-sync replica before the caller hears "published".
          await this.#producer.sendBatch({ acks: -1, topicMessages });
          this.#retryDelayMs = FIRST_RETRY_MS;
          for (const entry of batch) this.#finish(entry);
        } catch (error) {
          const waiting = batch.filter((entry) => !entry.settled);
          if (lostProducerState(error) && this.#recreate !== undefined && !this.#closed && waiting.length > 0) {
            // A new producer id and sequence; the batch goes again (if the broker kept part of
            // it, consumers drop the copies by message_id).
            try {
              const previous = this.#producer;
              this.#producer = await this.#recreate();
              void previous.disconnect().catch(() => undefined);
              this.#queue.unshift(...waiting);
              await new Promise((resolve) => setTimeout(resolve, this.#retryDelayMs));
              this.#retryDelayMs = Math.min(2 * this.#retryDelayMs, MAX_RETRY_MS);
              continue;
            } catch {
              // Not now (the broker is still away): fall through to the retry or the failure.
            }
          }
          if (isRetriable(error) && !this.#closed && waiting.length > 0) {
            // A broker restarting: kafkajs gives up reconnecting after its own retries (~15 s),
            // while the caller may wait `publishTimeoutMs` (30 s), which a restart fits. Send again,
            // first in line so the order holds, until that timer rejects the publish; a batch the
            // broker may have written comes twice (consumers drop it by message_id).
            this.#queue.unshift(...waiting);
            await new Promise((resolve) => setTimeout(resolve, this.#retryDelayMs));
            this.#retryDelayMs = Math.min(2 * this.#retryDelayMs, MAX_RETRY_MS);
            continue;
          }
          const failure = new WoodworkBusError(
            'WW_BUS_PUBLISH_FAILED',
            `kafka bus: publishing to ${[...new Set(batch.map((entry) => `"${entry.topic}"`))].join(', ')} failed: ${(error as Error).message}`,
            { cause: error, isRetryable: isRetriable(error) },
          );
          for (const entry of batch) this.#finish(entry, failure);
        }
      }
    } finally {
      this.#sending = false;
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const waiter of waiters) waiter();
    }
  }

  /** The oldest queued publishes that fit one request; a publish is never split. */
  #takeBatch(): PendingPublish[] {
    const batch: PendingPublish[] = [];
    let records = 0;
    let bytes = 0;
    while (this.#queue.length > 0) {
      const entry = this.#queue[0]!;
      if (entry.settled) {
        this.#queue.shift();
        continue;
      }
      const fits =
        records + entry.messages.length <= this.#limits.maxBatchRecords && bytes + entry.bytes <= this.#limits.maxBatchBytes;
      if (batch.length > 0 && !fits) break;
      this.#queue.shift();
      batch.push(entry);
      records += entry.messages.length;
      bytes += entry.bytes;
    }
    return batch;
  }

  #finish(entry: PendingPublish, error?: unknown): void {
    clearTimeout(entry.timer);
    if (entry.settled) return;
    entry.settled = true;
    if (error === undefined) entry.resolve();
    else entry.reject(error);
  }
}
