/**
 * `doReleaseConsumer` on NATS: a supervisor saw a member's process die, so what it held moves on
 * now instead of after its partition lease (`leaseTtlMs`) and its records' ack wait (`leaseMs`).
 *
 * 1. The dead process's members (`<consumerName>#<random>`, matched by name or as a prefix up to
 *    a `-`) are removed from the group's lease document by compare-and-set, and their partitions
 *    freed: the live members claim them at their next heartbeat (`heartbeatMs`).
 * 2. Per freed partition, every record still delivered and unacknowledged — only the dead owner
 *    could hold them — is given back with a `-NAK` sent on its behalf: JetStream acts on the ack
 *    subject's stream sequence (the delivery sequence only has to lie in the delivered range), so
 *    the record is redelivered at once, to the partition's next owner. Consumer info comes first:
 *    it makes nats-server drop the dead process's pull requests, which 2.9 would otherwise pop a
 *    redelivery for and lose until the next ack wait (see README, *Releasing a partition*).
 *
 * The next owner's scan finds those records outstanding and blocks their sessions until they come
 * back to it, so per-session order holds whichever arrives first: the lease or the redelivery.
 */
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { consumerName, nameToken, partitionSubject } from './names.js';
import type { TopicNames } from './names.js';
import { isDocument, LeaseStore } from './ownership.js';
import type { GroupDocument } from './ownership.js';
import { readStream } from './read-stream.js';
import { syntheticAckSubject } from './wire.js';

export interface ReleaseContext {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly prefix: string;
  readonly leaseStream: string;
  readonly leaseSubjectPrefix: string;
  readonly requestTimeoutMs: number;
}

const CONSUMER_NOT_FOUND = 10014;
const WRITE_ATTEMPTS = 10;

/** Does lease member `member` (`<consumerName>#<random>`) belong to `consumer` (a name or a process prefix)? */
export function isMemberOf(member: string, consumer: string): boolean {
  const hash = member.lastIndexOf('#');
  const name = hash < 0 ? member : member.slice(0, hash);
  return name === consumer || name.startsWith(`${consumer}-`);
}

/** The document without the dead members, and the partitions they owned. */
export function withoutMembers(
  document: GroupDocument,
  consumer: string,
): { document: GroupDocument; dead: string[]; freed: number[] } | undefined {
  const dead = Object.keys(document.members).filter((member) => isMemberOf(member, consumer));
  const owned = document.owners.flatMap((owner, partition) => (owner !== null && isMemberOf(owner, consumer) ? [partition] : []));
  if (dead.length === 0 && owned.length === 0) return undefined;
  const members = { ...document.members };
  for (const member of dead) delete members[member];
  const owners = document.owners.map((owner) => (owner !== null && isMemberOf(owner, consumer) ? null : owner));
  return { document: { ...document, members, owners }, dead, freed: owned };
}

/** Releases what `consumer`'s members held in `group` on the topic; resolves to how many records it had delivered and unacknowledged (given back). */
export async function releaseMember(
  context: ReleaseContext,
  names: TopicNames,
  partitions: number,
  group: string,
  consumer: string,
): Promise<number> {
  const store = new LeaseStore(
    context.js,
    context.jsm,
    context.leaseStream,
    `${context.leaseSubjectPrefix}.${names.token}.${nameToken(group)}`,
    context.requestTimeoutMs,
  );
  let freed: number[] = [];
  for (let attempt = 0; ; attempt++) {
    const { document, revision } = await store.read();
    if (!isDocument(document, partitions)) return 0;
    const change = withoutMembers(document, consumer);
    if (change === undefined) return 0;
    if (await store.write(change.document, revision)) {
      freed = change.freed;
      break;
    }
    // A live member renewed meanwhile: read again.
    if (attempt + 1 >= WRITE_ATTEMPTS) throw new Error(`the lease document of ${group} kept changing; try again`);
  }
  let released = 0;
  for (const partition of freed) {
    const durable = consumerName(group, partition);
    let info;
    try {
      info = await context.jsm.consumers.info(names.stream, durable);
    } catch (error) {
      if ((error as { code?: unknown }).code === CONSUMER_NOT_FOUND) continue;
      throw error;
    }
    if (info.num_ack_pending === 0 || info.delivered.stream_seq <= info.ack_floor.stream_seq) continue;
    for await (const message of readStream(context.js, names.stream, {
      filter: partitionSubject(context.prefix, names, partition),
      fromSequence: info.ack_floor.stream_seq + 1,
      toSequence: info.delivered.stream_seq,
      headersOnly: true,
      expiresMs: context.requestTimeoutMs,
    })) {
      // Records of the range that are acknowledged already are ignored by the server.
      context.nc.publish(syntheticAckSubject(names.stream, durable, message.seq, info.delivered.consumer_seq), '-NAK');
    }
    released += info.num_ack_pending;
  }
  await context.nc.flush();
  return released;
}
