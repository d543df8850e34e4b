/**
 * SubscriberQueue is one subscriber's bounded FIFO of events waiting to be
 * written to its stream. Publishers only ever `push` (never wait); when the
 * queue is full `push` answers false and the caller cuts the subscriber off,
 * so one slow reader never stalls publishers or other subscribers.
 */
export class SubscriberQueue<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  constructor(
    /** Most items held at once. */
    readonly capacity: number,
  ) {}

  /** Items waiting now. */
  get size(): number {
    return this.items.length - this.head;
  }

  /** Appends `item`; false (and nothing stored) when the queue is full. */
  push(item: T): boolean {
    if (this.size >= this.capacity) return false;
    this.items.push(item);
    return true;
  }

  /**
   * Removes and answers up to `max` items, oldest first, and no more than fit
   * in `maxBytes` as measured by `size` (the first item is always taken).
   */
  take(max: number, maxBytes = Infinity, size?: (item: T) => number): T[] {
    let end = Math.min(this.items.length, this.head + max);
    if (size !== undefined && maxBytes !== Infinity) {
      let bytes = 0;
      for (let index = this.head; index < end; index++) {
        bytes += size(this.items[index] as T);
        if (bytes > maxBytes && index > this.head) {
          end = index;
          break;
        }
      }
    }
    const taken = this.items.slice(this.head, end) as T[];
    this.head = end;
    // Compact once the consumed prefix dominates, keeping push O(1) amortised.
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return taken;
  }

  /** Drops everything; answers how many items were dropped. */
  clear(): number {
    const dropped = this.size;
    this.items = [];
    this.head = 0;
    return dropped;
  }
}
