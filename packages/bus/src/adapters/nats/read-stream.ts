/**
 * Reads a range of a stream in order with an ordered consumer (ephemeral, in memory, no acks):
 * `doReplay` and the partition scan that runs when a member takes a partition over.
 */
import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';

export interface StreamRange {
  /** One subject or a wildcard (a single filter: NATS 2.9 has no multi-filter consumers). */
  readonly filter: string;
  /** First stream sequence to read (inclusive, >= 1). */
  readonly fromSequence: number;
  /** Last stream sequence to read (inclusive): the log's end when the read started. */
  readonly toSequence: number;
  /** Only headers and subject (bodies are not sent): enough to learn the keys of a range. */
  readonly headersOnly?: boolean;
  readonly expiresMs: number;
}

const BATCH = 256;

export async function* readStream(js: JetStreamClient, stream: string, range: StreamRange): AsyncGenerator<JsMsg> {
  if (range.toSequence < range.fromSequence) return;
  const consumer = await js.consumers.get(stream, {
    filter_subjects: range.filter,
    opt_start_seq: range.fromSequence,
    headers_only: range.headersOnly === true,
  });
  try {
    const created = await consumer.info(true);
    if (created.num_pending === 0) return;
    for (;;) {
      const messages = await consumer.fetch({ max_messages: BATCH, expires: range.expiresMs });
      let received = 0;
      for await (const message of messages) {
        received++;
        if (message.seq > range.toSequence) return;
        yield message;
        if (message.seq === range.toSequence || message.info.pending === 0) return;
      }
      // Nothing more arrived: the rest of the range was deleted or aged out meanwhile.
      if (received === 0) return;
    }
  } finally {
    // Ordered consumers are ephemeral and expire by themselves; deleting early is a courtesy.
    consumer.delete().catch(() => undefined);
  }
}
