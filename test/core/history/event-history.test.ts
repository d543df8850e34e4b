import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { EventHistory } from "../../../src/core/history/event-history.js";
import { PostingList } from "../../../src/core/history/posting-list.js";

function bytesOf(id: number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (id * 31 + i) & 0xff;
  return bytes;
}

describe("EventHistory", () => {
  describe("append", () => {
    it("should keep copies of the bytes, readable by id", () => {
      const history = new EventHistory(10, 1000);
      const original = bytesOf(1, 5);
      history.append(1, 100, original);
      original.fill(0);
      expect(Array.from(history.getBytes(1) ?? [])).toEqual(Array.from(bytesOf(1, 5)));
      expect(history.getTime(1)).toBe(100);
      expect(history.getBytes(2)).toBeUndefined();
      expect(history.getTime(2)).toBeUndefined();
    });

    it("should refuse an id that does not increase", () => {
      const history = new EventHistory(10, 1000);
      history.append(5, 0, bytesOf(5, 1));
      expect(() => history.append(5, 0, bytesOf(5, 1))).toThrow("event ids must increase: 5 after 5");
      expect(() => history.append(3, 0, bytesOf(3, 1))).toThrow("event ids must increase: 3 after 5");
      expect(history.size).toBe(1);
    });

    it("should accept gaps in ids", () => {
      const history = new EventHistory(10, 1000);
      history.append(2, 0, bytesOf(2, 1));
      history.append(7, 0, bytesOf(7, 1));
      expect([history.firstId, history.lastId, history.size]).toEqual([2, 7, 2]);
      expect(history.firstIdAtOrAfter(3)).toBe(7);
      expect(history.firstIdAtOrAfter(8)).toBe(0);
    });
  });

  describe("eviction", () => {
    it("should evict the oldest events past the count bound and count them", () => {
      const evicted: number[] = [];
      const history = new EventHistory(3, 1_000_000, (id) => evicted.push(id));
      for (let id = 1; id <= 5; id++) history.append(id, id, bytesOf(id, 10));
      expect(evicted).toEqual([1, 2]);
      expect([history.size, history.bytes, history.evictions, history.firstId, history.lastId]).toEqual([3, 30, 2, 3, 5]);
      expect(history.getBytes(2)).toBeUndefined();
    });

    it("should evict the oldest events past the byte bound", () => {
      const evicted: number[] = [];
      const history = new EventHistory(100, 25, (id) => evicted.push(id));
      history.append(1, 0, bytesOf(1, 10));
      history.append(2, 0, bytesOf(2, 10));
      history.append(3, 0, bytesOf(3, 5));
      expect(evicted).toEqual([]);
      expect(history.bytes).toBe(25);
      history.append(4, 0, bytesOf(4, 12));
      expect(evicted).toEqual([1, 2]);
      expect([history.size, history.bytes, history.firstId]).toEqual([2, 17, 3]);
    });

    it("should hand each evicted event's bytes to onEvict while still readable", () => {
      const seen: [number, number[]][] = [];
      const history = new EventHistory(1, 1000, (id, bytes) => seen.push([id, Array.from(bytes)]));
      history.append(1, 0, bytesOf(1, 4));
      history.append(2, 0, bytesOf(2, 4));
      expect(seen).toEqual([[1, Array.from(bytesOf(1, 4))]]);
    });

    it("should keep the newest event even when it alone exceeds the byte bound", () => {
      const history = new EventHistory(10, 8);
      history.append(1, 0, bytesOf(1, 4));
      history.append(2, 0, bytesOf(2, 20));
      expect([history.size, history.bytes, history.firstId, history.evictions]).toEqual([1, 20, 2, 1]);
      history.append(3, 0, bytesOf(3, 4));
      expect([history.size, history.bytes, history.firstId, history.evictions]).toEqual([1, 4, 3, 2]);
    });

    it("should keep bytes intact across shared chunks as they are released", () => {
      // Events of 300 KB fill ~3 per 1 MiB chunk; the byte bound keeps ~3 at once.
      const length = 300 * 1024;
      const history = new EventHistory(1000, 3 * length);
      for (let id = 1; id <= 12; id++) {
        history.append(id, id, bytesOf(id, length));
        for (let held = history.firstId; held <= history.lastId; held++) {
          const bytes = history.getBytes(held);
          expect(bytes?.length).toBe(length);
          expect(bytes?.[0]).toBe((held * 31) & 0xff);
          expect(bytes?.[length - 1]).toBe((held * 31 + length - 1) & 0xff);
        }
      }
      expect(history.size).toBe(3);
      expect(history.evictions).toBe(9);
    });

    it("should match a naive model over random appends", () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 8 }),
          fc.integer({ min: 1, max: 60 }),
          fc.array(fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 30 })), {
            maxLength: 80,
          }),
          (maxEvents, maxBytes, steps) => {
            const evicted: number[] = [];
            const history = new EventHistory(maxEvents, maxBytes, (id) => evicted.push(id));
            const model: { id: number; time: number; length: number }[] = [];
            let id = 0;
            let time = 0;
            for (const [idStep, timeStep, length] of steps) {
              id += idStep;
              time += timeStep;
              let modelBytes = model.reduce((sum, e) => sum + e.length, 0);
              while (model.length > 0 && (model.length + 1 > maxEvents || modelBytes + length > maxBytes)) {
                modelBytes -= (model.shift() as { length: number }).length;
              }
              model.push({ id, time, length });
              history.append(id, time, bytesOf(id, length));
            }
            expect(history.size).toBe(model.length);
            expect(history.bytes).toBe(model.reduce((sum, e) => sum + e.length, 0));
            expect(history.evictions).toBe(steps.length - model.length);
            expect(evicted).toHaveLength(steps.length - model.length);
            const visited: number[] = [];
            history.scanFrom(0, (held, bytes) => {
              expect(Array.from(bytes)).toEqual(Array.from(bytesOf(held, bytes.length)));
              visited.push(held);
              return true;
            });
            expect(visited).toEqual(model.map((e) => e.id));
            for (const probe of [0, 1, Math.floor(time / 2), time, time + 1]) {
              const expected = model.find((e) => e.time >= probe)?.id ?? 0;
              expect(history.firstIdAtOrAfterTime(probe)).toBe(expected);
            }
          },
        ),
        { numRuns: 200 },
      );
    });
  });

  describe("scanFrom", () => {
    it("should visit held events from an id in order until told to stop, answering the id to continue from", () => {
      const history = new EventHistory(10, 1000);
      for (const id of [1, 2, 4, 8]) history.append(id, id * 10, bytesOf(id, 2));
      const visited: number[] = [];
      const next = history.scanFrom(3, (id) => {
        visited.push(id);
        return id < 4;
      });
      expect(visited).toEqual([4]);
      expect(next).toBe(5);
      expect(history.scanFrom(9, () => true)).toBe(9);
    });
  });

  describe("firstIdAtOrAfterTime", () => {
    it("should find the first event received at or after a time", () => {
      const history = new EventHistory(10, 1000);
      history.append(1, 100, bytesOf(1, 1));
      history.append(2, 100, bytesOf(2, 1));
      history.append(3, 200, bytesOf(3, 1));
      expect(history.firstIdAtOrAfterTime(50)).toBe(1);
      expect(history.firstIdAtOrAfterTime(100)).toBe(1);
      expect(history.firstIdAtOrAfterTime(101)).toBe(3);
      expect(history.firstIdAtOrAfterTime(201)).toBe(0);
    });
  });
});

describe("PostingList", () => {
  it("should remove only its oldest id", () => {
    const list = new PostingList();
    [3, 5, 9].forEach((id) => list.push(id));
    expect(list.shiftIf(5)).toBe(false);
    expect(list.shiftIf(3)).toBe(true);
    expect(list.size).toBe(2);
    expect(list.at(0)).toBe(5);
    expect(list.has(3)).toBe(false);
    expect(list.has(9)).toBe(true);
  });

  it("should binary-search positions relative to the oldest held id", () => {
    const list = new PostingList();
    for (let id = 1; id <= 3000; id++) list.push(id * 2);
    for (let id = 1; id <= 2000; id++) expect(list.shiftIf(id * 2)).toBe(true);
    expect(list.size).toBe(1000);
    expect(list.at(0)).toBe(4002);
    expect(list.lowerBound(0)).toBe(0);
    expect(list.lowerBound(4003)).toBe(1);
    expect(list.lowerBound(4004)).toBe(1);
    expect(list.lowerBound(99_999)).toBe(1000);
    expect(list.has(4000)).toBe(false);
    expect(list.has(6000)).toBe(true);
    expect(list.has(6001)).toBe(false);
  });

  it("should answer false to shiftIf when empty", () => {
    expect(new PostingList().shiftIf(1)).toBe(false);
  });
});
