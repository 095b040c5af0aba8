/**
 * Replay: read a topic's retained log up to where it ended when replay was called, then stop.
 *
 * kafkajs reads only through consumer groups, so a replay is a throwaway group
 * (`<kafka topic>:replay-<uuid>`, never committing) that seeks, right after it joins, every
 * partition to where reading starts — the end for partitions not read. With a key (a session) only
 * the key's partition is read — the same murmur2 hash the producer used. Partitions are merged by
 * record timestamp, each in its own log order. The group is deleted afterwards.
 */
import { randomUUID } from 'node:crypto';
import type { Admin, Consumer, Kafka, KafkaMessage } from 'kafkajs';
import type { AdapterReplayRequest, ReplayedRecord, WireRecord } from '../../adapter.js';
import { WoodworkBusError } from '../../errors.js';
import type { KafkaLogSink } from './log.js';
import type { ResolvedKafkaOptions } from './options.js';
import { positionOf, wireRecordOf } from './records.js';
import { KAFKAJS_RETRY, retryFor } from './retry.js';

/** Records buffered per partition before its fetching pauses until the reader catches up. */
const BUFFER_PER_PARTITION = 2_000;

export interface ReplayDependencies {
  readonly createClient: () => Kafka;
  readonly admin: Admin;
  readonly options: ResolvedKafkaOptions;
  readonly log: KafkaLogSink;
  /** The partition the producer's partitioner gives `key` among `partitionCount`. */
  readonly partitionFor: (key: string, partitionCount: number) => number;
  /** Takes the replay consumer's shutdown, which the adapter's close awaits. */
  readonly track: (cleanup: Promise<void>) => void;
}

export function parsePosition(position: string): { partition: number; offset: bigint } {
  const match = /^(\d+):(\d+)$/.exec(position);
  if (!match) {
    throw new WoodworkBusError('WW_BUS_INVALID_OPTION', `kafka bus: a position looks like "<partition>:<offset>", got ${JSON.stringify(position)}`);
  }
  return { partition: Number(match[1]), offset: BigInt(match[2]!) };
}

interface Buffered {
  readonly record: WireRecord;
  readonly partition: number;
  readonly offset: bigint;
  readonly timestamp: number;
  readonly position: string;
}

/**
 * Replay order: record timestamp, then partition and offset. A session is one partition, so its
 * records come in publish order; records of different sessions published in the same millisecond
 * come in partition order.
 */
function isBefore(a: Buffered, b: Buffered): boolean {
  if (a.timestamp !== b.timestamp) return a.timestamp < b.timestamp;
  if (a.partition !== b.partition) return a.partition < b.partition;
  return a.offset < b.offset;
}

interface PartitionRead {
  readonly end: bigint;
  /** The next offset to read (everything before it was buffered or skipped). */
  next: bigint;
  readonly records: Buffered[];
  done: boolean;
  paused: boolean;
}

export async function* replayTopic(
  dependencies: ReplayDependencies,
  kafkaTopic: string,
  request: AdapterReplayRequest,
): AsyncGenerator<ReplayedRecord> {
  const { admin, options } = dependencies;
  let ends: Awaited<ReturnType<Admin['fetchTopicOffsets']>>;
  try {
    const found = await retryFor(options.retryTimeoutMs, async () => {
      // Asking for the offsets of a topic that does not exist retries for seconds; a topic nobody
      // wrote to yet (a dead-letter topic, usually) is simply empty.
      if (!(await admin.listTopics()).includes(kafkaTopic)) return undefined;
      return admin.fetchTopicOffsets(kafkaTopic);
    });
    if (found === undefined) return;
    ends = found;
  } catch (error) {
    throw new WoodworkBusError('WW_BUS_CONNECTION', `kafka bus: reading the offsets of "${kafkaTopic}" failed: ${(error as Error).message}`, {
      cause: error,
      isRetryable: true,
    });
  }
  if (ends.length === 0) return;

  const after = request.afterPosition === undefined ? undefined : parsePosition(request.afterPosition);
  const keyPartition = request.key === undefined ? undefined : dependencies.partitionFor(request.key, ends.length);
  const reads = new Map<number, PartitionRead>();
  for (const { partition, low, high } of ends) {
    const end = BigInt(high);
    let start = BigInt(low);
    // Without a key, other partitions are cut at the timestamp of the record at the position, so
    // that record is read (and dropped) to learn it.
    if (after && after.partition === partition) start = start > after.offset ? start : keyPartition === undefined ? after.offset : after.offset + 1n;
    const wanted = keyPartition === undefined || keyPartition === partition;
    if (wanted && start < end) reads.set(partition, { end, next: start, records: [], done: false, paused: false });
  }
  if (reads.size === 0) return;
  /** Where each partition is to be read from now: the next offset, or the end when not (any more) read. */
  const seekTargets = () =>
    ends.map(({ partition, high }) => {
      const read = reads.get(partition);
      return { topic: kafkaTopic, partition, offset: (read && !read.done ? read.next : BigInt(high)).toString() };
    });

  const groupId = `${kafkaTopic}:replay-${randomUUID()}`;
  const consumer: Consumer = dependencies.createClient().consumer({
    groupId,
    maxWaitTimeInMs: options.maxWaitTimeMs,
    allowAutoTopicCreation: false,
    retry: { ...KAFKAJS_RETRY },
  });

  let failure: unknown;
  let wake: (() => void) | undefined;
  let lastArrivalAt = Date.now();
  const notify = () => {
    lastArrivalAt = Date.now();
    const waiting = wake;
    wake = undefined;
    waiting?.();
  };
  const markProgress = (partition: number, lastOffset: string) => {
    const read = reads.get(partition);
    if (!read) return;
    const next = BigInt(lastOffset) + 1n;
    if (next > read.next) read.next = next;
    if (read.next >= read.end) read.done = true;
  };

  try {
    // The group never commits, so every join (the first, or one after a broker restart) would
    // start from the beginning: seek each partition to where reading stands, synchronously here,
    // before kafkajs's first fetch of the generation.
    consumer.on(consumer.events.GROUP_JOIN, () => {
      for (const target of seekTargets()) consumer.seek(target);
    });
    // Batches that were all control records or aborted never reach eachBatch; this sees them.
    consumer.on(consumer.events.END_BATCH_PROCESS, (event) => {
      markProgress(event.payload.partition, event.payload.lastOffset);
      notify();
    });
    consumer.on(consumer.events.CRASH, (event) => {
      // kafkajs restarts the consumer from retriable crashes (the broker restarting).
      if (!event.payload.restart) failure ??= event.payload.error;
      notify();
    });
    await retryFor(options.retryTimeoutMs, async () => {
      await consumer.connect();
      await consumer.subscribe({ topic: kafkaTopic, fromBeginning: true });
    });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: Math.min(reads.size, 16),
      eachBatch: async ({ batch, resolveOffset, pause }) => {
        const read = reads.get(batch.partition);
        resolveOffset(batch.messages[batch.messages.length - 1]!.offset);
        if (!read || read.done) {
          // Written after replay began: not ours to read, and not worth fetching again.
          pause();
          return;
        }
        for (const message of batch.messages as KafkaMessage[]) {
          const offset = BigInt(message.offset);
          if (offset >= read.end) break;
          if (offset < read.next) continue; // read already, before a rejoin
          read.next = offset + 1n;
          const record = wireRecordOf(batch.topic, batch.partition, message);
          if (request.key !== undefined && record.key !== request.key) continue;
          read.records.push({
            record,
            partition: batch.partition,
            offset,
            timestamp: Number(message.timestamp),
            position: positionOf(batch.partition, message.offset),
          });
        }
        markProgress(batch.partition, batch.lastOffset());
        if (read.done || read.records.length >= BUFFER_PER_PARTITION) {
          read.paused = !read.done;
          pause();
        }
        notify();
      },
    });

    let threshold: Buffered | undefined;
    let thresholdKnown = after === undefined || keyPartition !== undefined;
    let lastProgressAt = Date.now();
    const idleLimitMs = Math.max(options.retryTimeoutMs, 20 * options.maxWaitTimeMs);
    while (true) {
      if (failure !== undefined) {
        throw new WoodworkBusError('WW_BUS_CONNECTION', `kafka bus: replay of "${kafkaTopic}" failed: ${(failure as Error).message}`, {
          cause: failure,
          isRetryable: true,
        });
      }
      // The merge needs the next record of every partition still being read.
      let starving = false;
      let next: Buffered | undefined;
      for (const read of reads.values()) {
        const head = read.records[0];
        if (head === undefined) {
          if (!read.done) starving = true;
          continue;
        }
        if (next === undefined || isBefore(head, next)) next = head;
      }
      if (starving) {
        if (Date.now() - Math.max(lastProgressAt, lastArrivalAt) > idleLimitMs) {
          // Nothing arrives although the end was not seen (a tail the broker no longer serves):
          // what could be read was read.
          dependencies.log({ level: 'warn', namespace: 'Replay', message: `replay of ${kafkaTopic} stopped waiting for records before the end`, extra: {} });
          for (const read of reads.values()) read.done = true;
          continue;
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 500);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        continue;
      }
      if (next === undefined) return;
      lastProgressAt = Date.now();
      if (!thresholdKnown && after) {
        // Every partition has its head now, the position's partition included.
        const head = reads.get(after.partition)?.records[0];
        if (head && head.offset === after.offset) threshold = head;
        thresholdKnown = true;
      }
      const read = reads.get(next.partition)!;
      read.records.shift();
      if (read.paused && read.records.length < BUFFER_PER_PARTITION / 2) {
        read.paused = false;
        consumer.resume([{ topic: kafkaTopic, partitions: [next.partition] }]);
      }
      if (after && keyPartition === undefined) {
        if (next.partition === after.partition) {
          if (next.offset <= after.offset) continue;
        } else if (threshold && !isBefore(threshold, next)) {
          continue;
        }
      }
      yield { record: next.record, position: next.position };
    }
  } finally {
    // Leaving waits for the fetch in flight (up to maxWaitTimeMs); the reader need not.
    dependencies.track(
      consumer
        .disconnect()
        .then(() => admin.deleteGroups([groupId]))
        .then(
          () => undefined,
          () => undefined,
        ),
    );
  }
}
