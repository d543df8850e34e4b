import { describe, expect, it } from "vitest";
import { SequenceCounter } from "../../src/client/sequence-counter.js";

describe("SequenceCounter", () => {
  it("should number each correlation's events 1, 2, 3 and forget the least recently used past its capacity", () => {
    const counter = new SequenceCounter(3);
    expect([counter.next("a"), counter.next("b"), counter.next("a"), counter.next("c")]).toEqual([1n, 1n, 2n, 1n]);
    // "b" is the least recently used now: a fourth correlation pushes it out, "a" and "c" go on counting.
    expect(counter.next("d")).toBe(1n);
    expect(counter.size).toBe(3);
    expect([counter.next("a"), counter.next("c"), counter.next("b")]).toEqual([3n, 2n, 1n]);
    expect(counter.size).toBe(3);
  });

  it("should keep its bound over many correlations used once (a detector emitting independent alerts)", () => {
    const counter = new SequenceCounter(1000);
    for (let index = 0; index < 50_000; index++) expect(counter.next(`alert-${index}`)).toBe(1n);
    expect(counter.size).toBe(1000);
    expect(counter.next("alert-49999")).toBe(2n);
    expect(counter.next("alert-48999")).toBe(1n);
  });
});
