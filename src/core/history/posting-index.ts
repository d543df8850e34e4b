import { retainedSize, stringSize } from "../retained-size.js";
import { type IdList, PostingList, singleIdList } from "./posting-list.js";

/**
 * PostingIndex maps index keys (a tag value, a correlation id) to the
 * ascending ids of the stored events that hold them. A key held by one event
 * keeps that id as a plain number in the map, with no list: high-cardinality
 * keys (pids, hashes, paths, one root per task) mostly occur once, and a list
 * of one costs more than the entry itself. The second id turns it into a
 * PostingList. Entries go when their last id is removed. What the index
 * retains is estimated into a counter it may share with other indexes (one
 * total for the memory bound, however many indexes there are).
 */
export class PostingIndex {
  private readonly entries = new Map<string, number | PostingList>();

  constructor(
    /** Where the estimate of retained bytes is added up. */
    private readonly retained: { bytes: number } = { bytes: 0 },
  ) {}

  /** Keys held. */
  get size(): number {
    return this.entries.size;
  }

  /**
   * Adds `id` (greater than every id held under `key`) under `key`. Answers
   * the key's PostingList when it has one now (two ids or more), for a caller
   * that remembers it to push to directly (see pushTo).
   */
  add(key: string, id: number): PostingList | undefined {
    const held = this.entries.get(key);
    if (held === undefined) {
      this.entries.set(key, id);
      this.retained.bytes += retainedSize.mapEntry + stringSize(key);
      return undefined;
    }
    if (typeof held === "number") {
      const list = new PostingList();
      list.push(held);
      list.push(id);
      this.entries.set(key, list);
      this.retained.bytes += postingListBytes + 2 * retainedSize.columnNumber;
      return list;
    }
    this.pushTo(held, id);
    return held;
  }

  /** Adds `id` to a list this index answered from add() and still holds (its size above 0). */
  pushTo(list: PostingList, id: number): void {
    list.push(id);
    this.retained.bytes += retainedSize.columnNumber;
  }

  /** Removes `id` from `key` when it is the oldest id there (eviction is oldest first). */
  removeOldest(key: string, id: number): void {
    const held = this.entries.get(key);
    if (held === undefined) return;
    if (typeof held === "number") {
      if (held !== id) return;
      this.entries.delete(key);
      this.retained.bytes -= retainedSize.mapEntry + stringSize(key);
      return;
    }
    if (!held.shiftIf(id)) return;
    this.retained.bytes -= retainedSize.columnNumber;
    if (held.size > 0) return;
    // A list is kept until it empties, so a caller's remembered list is the indexed one while it holds ids.
    this.entries.delete(key);
    this.retained.bytes -= retainedSize.mapEntry + stringSize(key) + postingListBytes;
  }

  /** The ids held under `key`, ascending; undefined when none. */
  get(key: string): IdList | undefined {
    const held = this.entries.get(key);
    return typeof held === "number" ? singleIdList(held) : held;
  }
}

/** A PostingList with its column and typed array, apart from its ids. */
const postingListBytes = 2 * retainedSize.objectHeader + 4 * retainedSize.field + retainedSize.typedArray;
