/**
 * The reorder buffer of a reader: turns chunks that arrive in any order, any number of times,
 * into one gap-free sequence by `chunk_index`, holding at most `capacity` of them.
 */
export type OfferResult =
  /** Stored; it will be taken in order. */
  | 'accepted'
  /** Already taken or already held: dropped. */
  | 'duplicate'
  /**
   * Beyond the window (index ≥ next + capacity): dropped so memory stays bounded. A producer that
   * respects its credit never sends one; the reader fetches it again from the log when needed.
   */
  | 'ahead';

export class ReorderBuffer<Item> {
  private readonly held = new Map<number, Item>();
  /** The index the next `take()` returns. */
  private nextIndex: number;
  /** The highest index known to exist (offered, or announced by the producer); -1 when none. */
  private highest = -1;

  constructor(
    start: number,
    readonly capacity: number,
  ) {
    this.nextIndex = start;
  }

  get next(): number {
    return this.nextIndex;
  }

  get size(): number {
    return this.held.size;
  }

  get highestKnown(): number {
    return this.highest;
  }

  /** A chunk known to exist is missing: something after `next` exists but `next` is not here. */
  get hasGap(): boolean {
    return this.highest >= this.nextIndex && !this.held.has(this.nextIndex);
  }

  /** The next chunk in order is here. */
  get hasNext(): boolean {
    return this.held.has(this.nextIndex);
  }

  /** Room for `index` without going past the window. */
  fits(index: number): boolean {
    return index < this.nextIndex + this.capacity;
  }

  offer(index: number, item: Item): OfferResult {
    if (index > this.highest) this.highest = index;
    if (index < this.nextIndex || this.held.has(index)) return 'duplicate';
    if (!this.fits(index)) return 'ahead';
    this.held.set(index, item);
    return 'accepted';
  }

  /** Records that chunks up to `index` exist (a producer heartbeat said so). */
  know(index: number): void {
    if (index > this.highest) this.highest = index;
  }

  /** The next item in order, or undefined when it has not arrived yet. */
  take(): Item | undefined {
    const item = this.held.get(this.nextIndex);
    if (item === undefined) return undefined;
    this.held.delete(this.nextIndex);
    this.nextIndex++;
    return item;
  }

  clear(): void {
    this.held.clear();
  }

  /** Empty, and the next `take()` returns `start` again (the stream restarted from scratch). */
  reset(start: number): void {
    this.held.clear();
    this.nextIndex = start;
    this.highest = -1;
  }
}
