/**
 * Small pieces of the JetStream wire protocol the adapter speaks directly (pull requests, ack
 * subjects) because it needs control the high-level client does not give: exact pull sizes,
 * confirmed acks, and knowing every delivery's consumer sequence.
 */
import type { Msg } from '@nats-io/transport-node';
import type { WireRecord } from '../../adapter.js';
import { KEY_HEADER, subjectKeyToken } from './names.js';

export const MSG_ID_HEADER = 'Nats-Msg-Id';

export const nanos = (ms: number): number => Math.round(ms * 1_000_000);

/** What a JetStream ack subject says about one delivery. */
export interface DeliveryInfo {
  /** Times the consumer has delivered this record (JetStream `redeliveryCount`), 1 the first time. */
  readonly deliveryCount: number;
  readonly streamSequence: number;
  /** The consumer's delivery sequence: +1 on every delivery, to anyone, redeliveries included. */
  readonly deliverySequence: number;
}

/**
 * `$JS.ACK.<stream>.<consumer>.<count>.<sseq>.<dseq>.<ts>.<pending>` (9 tokens, before 2.10) or
 * `$JS.ACK.<domain>.<account>.<stream>.<consumer>.<count>.<sseq>.<dseq>.<ts>.<pending>[.<rand>]`.
 */
export function parseAckSubject(reply: string | undefined): DeliveryInfo | undefined {
  if (reply === undefined || !reply.startsWith('$JS.ACK.')) return undefined;
  const tokens = reply.split('.');
  const base = tokens.length === 9 ? 2 : 4;
  if (tokens.length < base + 7) return undefined;
  const deliveryCount = Number(tokens[base + 2]);
  const streamSequence = Number(tokens[base + 3]);
  const deliverySequence = Number(tokens[base + 4]);
  if (!Number.isSafeInteger(streamSequence) || !Number.isSafeInteger(deliverySequence)) return undefined;
  return { deliveryCount: Number.isSafeInteger(deliveryCount) ? deliveryCount : 1, streamSequence, deliverySequence };
}

/**
 * An ack subject for a record this client holds no delivery of, used only to give back records
 * that were delivered to us but lost on the way (see PartitionReader.release). The server acts on
 * the stream sequence; the delivery sequence only has to lie in the consumer's delivered range.
 */
export function syntheticAckSubject(stream: string, consumer: string, streamSequence: number, deliverySequence: number): string {
  return `$JS.ACK.${stream}.${consumer}.1.${streamSequence}.${deliverySequence}.0.0`;
}

/**
 * The ack body that terminates a delivery. nats-server reads a reason after `+TERM` (and puts it
 * in the MSG_TERMINATED advisory) from 2.10.4 on. Older servers compare the body with `+TERM`
 * exactly and silently ignore anything else, yet still confirm it: the record would stay pending
 * and come back after the ack wait. So they get a bare `+TERM`, and the reason is dropped.
 */
export function termBody(reason: string, serverVersion: string | undefined): string {
  const [major = 0, minor = 0, patch = 0] = (serverVersion ?? '').split('.').map((part) => Number.parseInt(part, 10) || 0);
  const readsReason = major > 2 || (major === 2 && (minor > 10 || (minor === 10 && patch >= 4)));
  return readsReason && reason !== '' ? `+TERM ${reason}` : '+TERM';
}

/** A stored or delivered message as the adapter hands it on. */
export function toWireRecord(stream: string, sequence: number, subject: string, message: Pick<Msg, 'data' | 'headers'>): WireRecord {
  const headers = message.headers;
  const token = subjectKeyToken(subject);
  const key = token.startsWith('~') ? headers?.get(KEY_HEADER) || token : token;
  const messageId = headers?.get(MSG_ID_HEADER) || `${stream}:${sequence}`;
  return { messageId, key, body: message.data };
}
