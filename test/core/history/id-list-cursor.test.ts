import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { IdListCursor } from "../../../src/core/history/id-list-cursor.js";
import { PostingList, singleIdList } from "../../../src/core/history/posting-list.js";

function postingList(ids: number[]): PostingList {
  const list = new PostingList();
  for (const id of ids) list.push(id);
  return list;
}

/** Ascending distinct ids from 1 to `max`. */
const sortedIds = (max: number) => fc.uniqueArray(fc.integer({ min: 1, max }), { maxLength: 300 }).map((ids) => ids.sort((a, b) => a - b));

describe("IdListCursor", () => {
  it("should answer as has() for ids asked in either direction, from any list against any walk", () => {
    fc.assert(
      fc.property(sortedIds(2000), sortedIds(2000), fc.boolean(), fc.double({ min: 0, max: 1, noNaN: true }), (held, others, ascending, share) => {
        const list = postingList(held);
        // Held ids (a share of them) and others, ascending: hits as well as misses.
        const asked = [...new Set([...held.filter((_, index) => (index * 0.618) % 1 < share), ...others])].sort((a, b) => a - b);
        const cursor = new IdListCursor(list, ascending);
        const walk = ascending ? asked : [...asked].reverse();
        for (const id of walk) expect(cursor.contains(id), `id ${id}`).toBe(list.has(id));
      }),
      { numRuns: 500 },
    );
  });

  it("should answer for an empty list and a list of one id", () => {
    for (const ascending of [true, false]) {
      const empty = new IdListCursor(postingList([]), ascending);
      expect([1, 5, 9].map((id) => empty.contains(id))).toEqual([false, false, false]);
      const one = new IdListCursor(singleIdList(5), ascending);
      const walk = ascending ? [1, 5, 9] : [9, 5, 1];
      expect(walk.map((id) => one.contains(id))).toEqual([false, true, false]);
    }
  });

  it("should find far-apart ids of a long list: the gallop's bounds at both ends", () => {
    const ids = Array.from({ length: 10_000 }, (_, index) => index * 3 + 1);
    for (const ascending of [true, false]) {
      const cursor = new IdListCursor(postingList(ids), ascending);
      const walk = ascending ? [1, 2, 4, 29_998, 29_999, 40_000] : [40_000, 29_998, 4, 2, 1, 0];
      expect(walk.map((id) => cursor.contains(id))).toEqual(ascending ? [true, false, true, true, false, false] : [false, true, true, false, true, false]);
    }
  });
});
