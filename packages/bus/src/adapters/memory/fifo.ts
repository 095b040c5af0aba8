/**
 * A first-in-first-out queue over an array with a moving head. `Array.prototype.shift` is O(n)
 * once an array is large enough to live in V8's large-object space, and the bus's queues can
 * hold a whole backlog, so every queue on the hot path uses this instead.
 */
export class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(value: T): void {
    this.items.push(value);
  }

  /** Puts a value back at the front (a returned message goes before later ones). */
  unshift(value: T): void {
    if (this.head > 0) this.items[--this.head] = value;
    else this.items.unshift(value);
  }

  peek(): T | undefined {
    return this.head < this.items.length ? this.items[this.head] : undefined;
  }

  shift(): T | undefined {
    const items = this.items;
    if (this.head >= items.length) return undefined;
    const value = items[this.head];
    items[this.head++] = undefined;
    if (this.head === items.length) {
      items.length = 0;
      this.head = 0;
    } else if (this.head >= 4096 && this.head * 2 >= items.length) {
      // Compact once the dead prefix is at least half the array, so memory follows the backlog.
      this.items = items.slice(this.head);
      this.head = 0;
    }
    return value;
  }

  /** Removes and returns everything, oldest first. */
  drain(): T[] {
    const values = this.items.slice(this.head) as T[];
    this.items = [];
    this.head = 0;
    return values;
  }
}
