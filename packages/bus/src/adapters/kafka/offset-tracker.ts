/**
 * Which offset of one partition may be committed. Records are handed out concurrently (different
 * keys in one partition are in flight at once) and settle in any order, but Kafka keeps a single
 * committed offset per partition: "everything below this is done". So the committed offset is the
 * lowest offset not yet settled — never past a record still being handled, which a crash would
 * otherwise lose. Offsets are int64 and need not be contiguous (compaction, transaction markers),
 * so the tracker keeps the offsets it was given rather than assuming `+1`.
 */
export class OffsetTracker {
  readonly #offsets: bigint[] = [];
  readonly #settled: boolean[] = [];
  /** Index of the first unsettled offset; everything before it is settled. */
  #head = 0;
  #last: bigint | undefined;
  #highestSettled: bigint | undefined;

  /** Start tracking an offset handed out; offsets must arrive in increasing order. */
  track(offset: bigint): void {
    if (this.#last !== undefined && offset <= this.#last) {
      throw new RangeError(`offset ${offset} tracked after ${this.#last}: offsets must increase`);
    }
    this.#last = offset;
    this.#offsets.push(offset);
    this.#settled.push(false);
  }

  /** Mark a tracked offset as handled. Unknown or already settled offsets are ignored. */
  settle(offset: bigint): void {
    const index = this.#indexOf(offset);
    if (index === -1 || this.#settled[index]) return;
    this.#settled[index] = true;
    if (this.#highestSettled === undefined || offset > this.#highestSettled) this.#highestSettled = offset;
    while (this.#head < this.#offsets.length && this.#settled[this.#head]) this.#head += 1;
    // Drop the settled prefix now and then so a long batch does not keep every offset.
    if (this.#head > 1024 && this.#head * 2 > this.#offsets.length) {
      this.#offsets.splice(0, this.#head);
      this.#settled.splice(0, this.#head);
      this.#head = 0;
    }
  }

  /**
   * The highest offset settled. Records of different keys settle out of order, so this may lie
   * past `commitOffset()`: those settled records are not covered by a commit yet.
   */
  get highestSettled(): bigint | undefined {
    return this.#highestSettled;
  }

  /** Tracked offsets not yet settled. */
  get pending(): number {
    let count = 0;
    for (let index = this.#head; index < this.#settled.length; index += 1) if (!this.#settled[index]) count += 1;
    return count;
  }

  /**
   * The offset to commit: the first unsettled one, or one past the last tracked offset when all
   * are settled; undefined when nothing was ever tracked.
   */
  commitOffset(): bigint | undefined {
    const firstUnsettled = this.#offsets[this.#head];
    if (firstUnsettled !== undefined) return firstUnsettled;
    return this.#last === undefined ? undefined : this.#last + 1n;
  }

  #indexOf(offset: bigint): number {
    let low = this.#head;
    let high = this.#offsets.length - 1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      const value = this.#offsets[middle]!;
      if (value === offset) return middle;
      if (value < offset) low = middle + 1;
      else high = middle - 1;
    }
    return -1;
  }
}
