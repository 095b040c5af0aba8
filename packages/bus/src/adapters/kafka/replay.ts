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
import { SEQUENCE_HEADER } from './publisher.js';
import { positionOf, wireRecordOf } from './subscription.js';

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
  /** The publisher's counter (SEQUENCE_HEADER); -1 for records written by other producers. */
  readonly sequence: number;
  readonly position: string;
}

/** Replay order: record timestamp, then publish counter, then partition and offset. */
function isBefore(a: Buffered, b: Buffered): boolean {
  if (a.timestamp !== b.timestamp) return a.timestamp < b.timestamp;
  if (a.sequence !== b.sequence) return a.sequence < b.sequence;
  if (a.partition !== b.partition) return a.partition < b.partition;
  return a.offset < b.offset;
}

function sequenceOf(message: KafkaMessage): number {
  const header = message.headers?.[SEQUENCE_HEADER];
  const value = Array.isArray(header) ? header[0] : header;
  const sequence = value === undefined ? Number.NaN : Number(value.toString());
  return Number.isSafeInteger(sequence) ? sequence : -1;
}

interface PartitionRead {
  readonly end: bigint;
  readonly records: Buffered[];
  done: boolean;
  paused: boolean;
}

export async function* replayTopic(
  dependencies: ReplayDependencies,
  kafkaTopic: string,
  request: AdapterReplayRequest,
): AsyncGenerator<ReplayedRecord> {
  const { admin } = dependencies;
  let ends: Awaited<ReturnType<Admin['fetchTopicOffsets']>>;
  try {
    // Asking for the offsets of a topic that does not exist retries for seconds; a topic nobody
    // wrote to yet (a dead-letter topic, usually) is simply empty.
    if (!(await admin.listTopics()).includes(kafkaTopic)) return;
    ends = await admin.fetchTopicOffsets(kafkaTopic);
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
  const startOffsets: { partition: number; offset: string }[] = [];
  for (const { partition, low, high } of ends) {
    const end = BigInt(high);
    let start = BigInt(low);
    // Without a key, other partitions are cut at the timestamp of the record at the position, so
    // that record is read (and dropped) to learn it.
    if (after && after.partition === partition) start = start > after.offset ? start : keyPartition === undefined ? after.offset : after.offset + 1n;
    const wanted = keyPartition === undefined || keyPartition === partition;
    if (wanted && start < end) {
      reads.set(partition, { end, records: [], done: false, paused: false });
      startOffsets.push({ partition, offset: start.toString() });
    } else {
      startOffsets.push({ partition, offset: end.toString() });
    }
  }
  if (reads.size === 0) return;

  const groupId = `${kafkaTopic}:replay-${randomUUID()}`;
  const consumer: Consumer = dependencies.createClient().consumer({
    groupId,
    maxWaitTimeInMs: dependencies.options.maxWaitTimeMs,
    allowAutoTopicCreation: false,
    retry: { initialRetryTime: 100, maxRetryTime: 2_000, retries: 10 },
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
    if (read && BigInt(lastOffset) + 1n >= read.end) read.done = true;
  };

  try {
    // Batches that were all control records or aborted never reach eachBatch; this sees them.
    consumer.on(consumer.events.END_BATCH_PROCESS, (event) => {
      markProgress(event.payload.partition, event.payload.lastOffset);
      notify();
    });
    consumer.on(consumer.events.CRASH, (event) => {
      failure ??= event.payload.error;
      notify();
    });
    await consumer.connect();
    await consumer.subscribe({ topic: kafkaTopic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: Math.min(reads.size, 16),
      eachBatch: async ({ batch, resolveOffset }) => {
        const read = reads.get(batch.partition);
        if (!read || read.done) return;
        for (const message of batch.messages as KafkaMessage[]) {
          const offset = BigInt(message.offset);
          if (offset >= read.end) break;
          const record = wireRecordOf(batch.topic, batch.partition, message);
          if (request.key !== undefined && record.key !== request.key) continue;
          read.records.push({
            record,
            partition: batch.partition,
            offset,
            timestamp: Number(message.timestamp),
            sequence: sequenceOf(message),
            position: positionOf(batch.partition, message.offset),
          });
        }
        resolveOffset(batch.messages[batch.messages.length - 1]!.offset);
        markProgress(batch.partition, batch.lastOffset());
        if (!read.done && read.records.length >= BUFFER_PER_PARTITION) {
          read.paused = true;
          consumer.pause([{ topic: kafkaTopic, partitions: [batch.partition] }]);
        }
        notify();
      },
    });
    // run() resolves once the group is joined and the first fetch is on its way; its answer is
    // dropped for partitions with a pending seek, so nothing is read from the wrong place.
    // (kafkajs's admin.setOffsets would do the same through a whole extra consumer, ~5 s.)
    for (const { partition, offset } of startOffsets) consumer.seek({ topic: kafkaTopic, partition, offset });

    let threshold: Buffered | undefined;
    let thresholdKnown = after === undefined || keyPartition !== undefined;
    let lastProgressAt = Date.now();
    const idleLimitMs = Math.max(10_000, 20 * dependencies.options.maxWaitTimeMs);
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
