/**
 * How a WireRecord is laid out in Kafka, both ways: key = the session id (so the default murmur2
 * partitioner keeps a session on one partition), value = the envelope's JSON bytes, untouched,
 * timestamp = publish time, and no headers. Every header costs kafkajs a good share of its
 * per-record encoding work (a zero-filled encoder buffer each; one header ≈ 15 % of the producer's
 * throughput), and the message_id and session id are in the JSON already.
 */
import type { KafkaMessage, Message } from 'kafkajs';
import type { WireRecord } from '../../adapter.js';

/** Read when present (another producer may set it) before looking into the body. */
export const MESSAGE_ID_HEADER = 'message_id';

export function toKafkaMessage(record: WireRecord, timestamp: string): Message {
  return {
    key: record.key,
    // The JSON text when the wrapper has it (kafkajs writes it into the request once), else a view
    // on the caller's bytes, not a copy.
    value: record.text ?? bytesView(record.body),
    // Set at publish time, not when kafkajs encodes (or re-encodes, on a retry) the request.
    timestamp,
  };
}

function bytesView(body: Uint8Array): Buffer {
  return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

export function positionOf(partition: number, offset: string): string {
  return `${partition}:${offset}`;
}

function headerText(message: KafkaMessage, name: string): string | undefined {
  const header = message.headers?.[name];
  const value = Array.isArray(header) ? header[0] : header;
  return value === undefined ? undefined : value.toString();
}

/**
 * A record read from Kafka. Nothing here parses the body on the way through (the wrapper does,
 * and dead-letters what is not an envelope); `messageId` is worked out only if someone asks.
 */
class ReceivedRecord implements WireRecord {
  readonly key: string;
  readonly body: Uint8Array;
  #messageId: string | undefined;

  constructor(
    private readonly message: KafkaMessage,
    private readonly fallbackId: string,
  ) {
    this.key = message.key ? message.key.toString('utf8') : '';
    this.body = message.value ?? new Uint8Array(0);
  }

  get messageId(): string {
    this.#messageId ??= headerText(this.message, MESSAGE_ID_HEADER) ?? messageIdInBody(this.body) ?? this.fallbackId;
    return this.#messageId;
  }
}

function messageIdInBody(body: Uint8Array): string | undefined {
  try {
    const id = (JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8')) as { message_id?: unknown })
      .message_id;
    return typeof id === 'string' && id !== '' ? id : undefined;
  } catch {
    return undefined;
  }
}

export function wireRecordOf(topic: string, partition: number, message: KafkaMessage): WireRecord {
  return new ReceivedRecord(message, `${topic}:${partition}:${message.offset}`);
}
