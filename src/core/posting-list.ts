/**
 * PostingList is an ascending list of event ids for one index key. Ids are
 * appended at the end (new events) and removed from the front (eviction,
 * oldest first), so both ends are O(1) amortised and lookups binary-search.
 */
export class PostingList {
  private ids: number[] = [];
  private head = 0;

  get size(): number {
    return this.ids.length - this.head;
  }

  /** Appends `id`, which must be greater than every id held. */
  push(id: number): void {
    this.ids.push(id);
  }

  /** Removes `id` when it is the oldest held; answers whether it was. */
  shiftIf(id: number): boolean {
    if (this.size === 0 || this.ids[this.head] !== id) return false;
    this.head++;
    if (this.head > 1024 && this.head * 2 > this.ids.length) {
      this.ids = this.ids.slice(this.head);
      this.head = 0;
    }
    return true;
  }

  /** The id at position `index` (0 = oldest). */
  at(index: number): number {
    return this.ids[this.head + index];
  }

  /** Position of the first id >= `id` (size when none). */
  lowerBound(id: number): number {
    let low = this.head;
    let high = this.ids.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.ids[mid] < id) low = mid + 1;
      else high = mid;
    }
    return low - this.head;
  }

  /** True when `id` is held. */
  has(id: number): boolean {
    const index = this.lowerBound(id);
    return index < this.size && this.at(index) === id;
  }
}
