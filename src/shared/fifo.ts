/**
 * A first-in, first-out queue on one array that keeps its slots. An array emptied by `shift()` or
 * `length = 0` gives its backing store back, and its next `push` allocates a new one: a run's
 * event queue and its waiting `next()` calls empty after nearly every event, which cost about 250
 * bytes of garbage per streamed token (the two arrays together).
 */
export class Fifo<T> {
  private items: Array<T | undefined> = [];
  private head = 0;
  private tail = 0;

  /** How many items wait. */
  get size(): number {
    return this.tail - this.head;
  }

  push(item: T): void {
    this.items[this.tail++] = item;
  }

  /** The oldest item, left in place; undefined when empty. */
  peek(): T | undefined {
    return this.head < this.tail ? this.items[this.head] : undefined;
  }

  /** Take the oldest item; undefined when empty. */
  shift(): T | undefined {
    if (this.head === this.tail) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head === this.tail) this.head = this.tail = 0;
    else if (this.head >= COMPACT_AT && this.head * 2 >= this.tail) this.compact();
    return item;
  }

  /** Empty the queue and give its slots back. */
  clear(): void {
    this.items = [];
    this.head = this.tail = 0;
  }

  /** A queue that is never read to empty would only grow: move what waits to the front. */
  private compact(): void {
    this.items = this.items.slice(this.head, this.tail);
    this.tail -= this.head;
    this.head = 0;
  }
}

/** Taken slots at the front after which a queue that never empties is compacted. */
const COMPACT_AT = 1024;
