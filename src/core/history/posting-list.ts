import { NumberColumn } from "./number-column.js";

/**
 * PostingList is an ascending list of event ids for one index key. Ids are
 * appended at the end (new events) and removed from the front (eviction,
 * oldest first), so both ends are O(1) amortised and lookups binary-search.
 * Ids live in a typed column: 4 bytes each below 2^32.
 */
export class PostingList {
  private readonly ids = new NumberColumn(4);

  get size(): number {
    return this.ids.length;
  }

  /** Appends `id`, which must be greater than every id held. */
  push(id: number): void {
    this.ids.push(id);
  }

  /** Removes `id` when it is the oldest held; answers whether it was. */
  shiftIf(id: number): boolean {
    if (this.size === 0 || this.ids.at(0) !== id) return false;
    this.ids.shift();
    return true;
  }

  /** The id at position `index` (0 = oldest). */
  at(index: number): number {
    return this.ids.at(index);
  }

  /** Position of the first id >= `id` (size when none). */
  lowerBound(id: number): number {
    return this.ids.lowerBound(id);
  }

  /** True when `id` is held. */
  has(id: number): boolean {
    const index = this.lowerBound(id);
    return index < this.size && this.at(index) === id;
  }
}
