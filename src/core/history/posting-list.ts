import { NumberColumn } from "./number-column.js";

/** Ascending event ids, as queries read them. */
export interface IdList {
  readonly size: number;
  /** The id at position `index` (0 = oldest). */
  at(index: number): number;
  /** Position of the first id >= `id` (size when none). */
  lowerBound(id: number): number;
  /** True when `id` is held. */
  has(id: number): boolean;
}

/**
 * PostingList is an ascending list of event ids for one index key. Ids are
 * appended at the end (new events) and removed from the front (eviction,
 * oldest first), so both ends are O(1) amortised and lookups binary-search.
 * Ids live in a typed column: 4 bytes each below 2^32.
 */
export class PostingList implements IdList {
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

/** A list of one id, made when a query asks for a key only one event holds (the index keeps a bare number for it). */
export function singleIdList(id: number): IdList {
  return {
    size: 1,
    at: () => id,
    lowerBound: (target) => (id >= target ? 0 : 1),
    has: (target) => target === id,
  };
}
