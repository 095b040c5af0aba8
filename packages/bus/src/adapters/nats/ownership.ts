/**
 * Partition ownership within a consumer group: which member reads which partition.
 *
 * One JSON document per (topic, group) lives in a JetStream KV bucket (a plain stream with one
 * message per subject, readable with `nats kv get`). Members change it only by compare-and-set on
 * the subject's last sequence, so two members can never both claim a partition. Every renewal
 * bumps the member's heartbeat counter; a member whose counter a peer has seen unchanged for the
 * lease TTL (measured on the peer's own clock, so clock skew does not matter) is removed and its
 * partitions are freed. Fair share is ceil(partitions / live members): a member over it drains and
 * releases the excess, a member under it claims free partitions.
 */
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';

export interface GroupDocument {
  readonly v: 1;
  readonly partitions: number;
  /** member id → heartbeat counter, bumped on every renewal. */
  readonly members: Record<string, number>;
  /** partition → owning member id, or null when free. */
  readonly owners: (string | null)[];
}

/** What this member wants, beyond renewing: the subscription's view of its partitions. */
export interface OwnershipIntent {
  readonly me: string;
  /** Closing: leave the group and free every partition. */
  readonly leaving: boolean;
  /** Drained partitions to free now. */
  readonly releasable: ReadonlySet<number>;
  /** Partitions to give to another live member now (a handler held a record past the ack timeout). */
  readonly handoffs: ReadonlySet<number>;
  /** Partitions being drained: still ours, but not counted toward our share. */
  readonly releasing: ReadonlySet<number>;
  /** Partitions we must not take (we are stuck on a record of theirs). */
  readonly quarantined: ReadonlySet<number>;
  /** When we took each partition we hold; the longest-held is released first. */
  readonly acquiredAt: ReadonlyMap<number, number>;
  /** Partitions with records out right now; idle ones are released first (no wait to drain). */
  readonly busy: ReadonlySet<number>;
}

export interface OwnershipPlan {
  readonly document: GroupDocument;
  /** Partitions this member owns once the document is written. */
  readonly owned: readonly number[];
  /** Partitions over our fair share: start draining them. */
  readonly startRelease: readonly number[];
  /** Whether the document listed us before this write (false on joining, and when peers expelled us). */
  readonly wasMember: boolean;
}

/** Tracks peers' heartbeat counters on the local clock. */
export class LivenessObserver {
  private readonly seen = new Map<string, { beat: number; since: number }>();
  /** When each partition was first seen free, for the orphan rule. */
  readonly freeSince = new Map<number, number>();

  constructor(private readonly ttlMs: number) {}

  isDead(id: string, beat: number, now: number): boolean {
    const last = this.seen.get(id);
    if (last === undefined || last.beat !== beat) {
      this.seen.set(id, { beat, since: now });
      return false;
    }
    return now - last.since >= this.ttlMs;
  }

  forgetExcept(ids: Iterable<string>): void {
    const keep = new Set(ids);
    for (const id of this.seen.keys()) if (!keep.has(id)) this.seen.delete(id);
  }
}

export function emptyDocument(partitions: number): GroupDocument {
  return { v: 1, partitions, members: {}, owners: new Array<string | null>(partitions).fill(null) };
}

export function isDocument(value: unknown, partitions: number): value is GroupDocument {
  const candidate = value as Partial<GroupDocument> | null;
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    candidate.v === 1 &&
    candidate.partitions === partitions &&
    typeof candidate.members === 'object' &&
    candidate.members !== null &&
    Array.isArray(candidate.owners) &&
    candidate.owners.length === partitions
  );
}

/**
 * Computes the next document from the current one. Pure apart from the observer's memory, so
 * the whole rebalancing policy is testable without a broker.
 */
export function planOwnership(
  current: unknown,
  partitions: number,
  intent: OwnershipIntent,
  observer: LivenessObserver,
  now: number,
  orphanAfterMs: number,
): OwnershipPlan {
  const base = isDocument(current, partitions) ? current : emptyDocument(partitions);
  const members: Record<string, number> = { ...base.members };
  const owners = [...base.owners];
  const me = intent.me;
  const wasMember = me in base.members;

  for (const [id, beat] of Object.entries(members)) {
    if (id !== me && observer.isDead(id, beat, now)) delete members[id];
  }
  observer.forgetExcept(Object.keys(members));

  if (intent.leaving) {
    delete members[me];
  } else {
    members[me] = ((members[me] ?? 0) + 1) % 1_000_000_000;
  }
  // Owners that are no longer members (dead, left) free their partitions.
  for (let partition = 0; partition < partitions; partition++) {
    const owner = owners[partition];
    if (owner !== null && owner !== undefined && !(owner in members)) owners[partition] = null;
  }
  if (intent.leaving) {
    return { document: { v: 1, partitions, members, owners }, owned: [], startRelease: [], wasMember };
  }

  const live = Object.keys(members).sort();
  const share = Math.ceil(partitions / live.length);
  const countOf = (id: string) => owners.reduce((count, owner) => count + (owner === id ? 1 : 0), 0);

  for (const partition of intent.handoffs) {
    if (owners[partition] !== me) continue;
    let target: string | undefined;
    let targetCount = Infinity;
    for (const id of live) {
      if (id === me) continue;
      const count = countOf(id);
      if (count < targetCount) {
        target = id;
        targetCount = count;
      }
    }
    if (target !== undefined) owners[partition] = target;
  }
  for (const partition of intent.releasable) {
    if (owners[partition] === me) owners[partition] = null;
  }

  const active: number[] = [];
  for (let partition = 0; partition < partitions; partition++) {
    if (owners[partition] === me && !intent.releasing.has(partition)) active.push(partition);
  }
  let startRelease: number[] = [];
  if (active.length > share) {
    startRelease = [...active]
      .sort(
        (a, b) =>
          Number(intent.busy.has(a)) - Number(intent.busy.has(b)) ||
          (intent.acquiredAt.get(a) ?? 0) - (intent.acquiredAt.get(b) ?? 0) ||
          b - a,
      )
      .slice(0, active.length - share);
  }
  let count = active.length - startRelease.length;
  for (let partition = 0; partition < partitions && count < share; partition++) {
    if (owners[partition] === null && !intent.quarantined.has(partition)) {
      owners[partition] = me;
      count++;
    }
  }
  // A partition nobody under its share wanted (every other member is full, or the only taker is
  // quarantined from it) must not stay unread: after a while anyone takes it.
  for (let partition = 0; partition < partitions; partition++) {
    if (owners[partition] !== null) {
      observer.freeSince.delete(partition);
      continue;
    }
    const since = observer.freeSince.get(partition);
    if (since === undefined) observer.freeSince.set(partition, now);
    else if (now - since >= orphanAfterMs && !intent.quarantined.has(partition)) {
      owners[partition] = me;
      observer.freeSince.delete(partition);
    }
  }

  const owned: number[] = [];
  for (let partition = 0; partition < partitions; partition++) if (owners[partition] === me) owned.push(partition);
  return { document: { v: 1, partitions, members, owners }, owned, startRelease, wasMember };
}

/** Wrong last subject sequence: someone else wrote the document first. */
const WRONG_LAST_SEQUENCE = 10071;

/** Reads and compare-and-sets one group's document in the lease bucket. */
export class LeaseStore {
  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly stream: string,
    readonly subject: string,
    private readonly timeoutMs: number,
  ) {}

  async read(): Promise<{ document: unknown; revision: number }> {
    const message = await this.jsm.streams.getMessage(this.stream, { last_by_subj: this.subject });
    if (message === null) return { document: null, revision: 0 };
    let document: unknown = null;
    try {
      document = message.json();
    } catch {
      document = null;
    }
    return { document, revision: message.seq };
  }

  /** False when the document changed since `revision` was read. */
  async write(document: GroupDocument, revision: number): Promise<boolean> {
    try {
      await this.js.publish(this.subject, JSON.stringify(document), {
        expect: { lastSubjectSequence: revision },
        timeout: this.timeoutMs,
      });
      return true;
    } catch (error) {
      if ((error as { code?: unknown }).code === WRONG_LAST_SEQUENCE) return false;
      throw error;
    }
  }
}
