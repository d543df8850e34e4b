import { describe, expect, it } from "vitest";
import { SubscriberQueue } from "../../../src/core/routing/subscriber-queue.js";

describe("SubscriberQueue", () => {
  describe("push", () => {
    it("should accept items up to its capacity", () => {
      const queue = new SubscriberQueue<number>(3);
      expect([queue.push(1), queue.push(2), queue.push(3)]).toEqual([true, true, true]);
      expect(queue.size).toBe(3);
    });

    it("should answer false at capacity and store nothing", () => {
      const queue = new SubscriberQueue<number>(2);
      queue.push(1);
      queue.push(2);
      expect(queue.push(3)).toBe(false);
      expect(queue.size).toBe(2);
      expect(queue.take(10)).toEqual([1, 2]);
    });

    it("should accept again once items were taken", () => {
      const queue = new SubscriberQueue<number>(2);
      queue.push(1);
      queue.push(2);
      queue.take(1);
      expect(queue.push(3)).toBe(true);
      expect(queue.push(4)).toBe(false);
      expect(queue.take(10)).toEqual([2, 3]);
    });
  });

  describe("take", () => {
    it("should answer at most max items, oldest first", () => {
      const queue = new SubscriberQueue<number>(10);
      for (let i = 1; i <= 5; i++) queue.push(i);
      expect(queue.take(2)).toEqual([1, 2]);
      expect(queue.size).toBe(3);
      expect(queue.take(2)).toEqual([3, 4]);
      expect(queue.take(2)).toEqual([5]);
      expect(queue.take(2)).toEqual([]);
      expect(queue.size).toBe(0);
    });

    it("should keep FIFO order across compaction of a long-consumed prefix", () => {
      const queue = new SubscriberQueue<number>(5000);
      let next = 0;
      const seen: number[] = [];
      for (let round = 0; round < 50; round++) {
        for (let i = 0; i < 100; i++) expect(queue.push(next++)).toBe(true);
        seen.push(...queue.take(90));
      }
      seen.push(...queue.take(10_000));
      expect(seen).toEqual(Array.from({ length: 5000 }, (_, i) => i));
      expect(queue.size).toBe(0);
    });

    it("should count only unconsumed items against the capacity after compaction", () => {
      const queue = new SubscriberQueue<number>(3);
      for (let i = 0; i < 3000; i++) {
        expect(queue.push(i)).toBe(true);
        expect(queue.take(1)).toEqual([i]);
      }
      expect(queue.push(1)).toBe(true);
      expect(queue.push(2)).toBe(true);
      expect(queue.push(3)).toBe(true);
      expect(queue.push(4)).toBe(false);
    });
  });

  describe("clear", () => {
    it("should drop everything and answer how many items were dropped", () => {
      const queue = new SubscriberQueue<string>(4);
      queue.push("a");
      queue.push("b");
      queue.push("c");
      queue.take(1);
      expect(queue.clear()).toBe(2);
      expect(queue.size).toBe(0);
      expect(queue.take(10)).toEqual([]);
      expect(queue.clear()).toBe(0);
    });

    it("should leave the full capacity available", () => {
      const queue = new SubscriberQueue<number>(2);
      queue.push(1);
      queue.push(2);
      queue.clear();
      expect(queue.push(3)).toBe(true);
      expect(queue.push(4)).toBe(true);
      expect(queue.push(5)).toBe(false);
    });
  });
});
