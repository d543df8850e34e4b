import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { OldestFirst } from "../../src/wire/oldest-first.js";

/** One step on a map: set a key (new or again), move a key to the end (delete, set), delete a key, or take the oldest. */
const operation = fc.oneof(
  fc.record({ kind: fc.constant("set" as const), key: fc.integer({ min: 0, max: 40 }) }),
  fc.record({ kind: fc.constant("touch" as const), key: fc.integer({ min: 0, max: 40 }) }),
  fc.record({ kind: fc.constant("delete" as const), key: fc.integer({ min: 0, max: 40 }) }),
  fc.record({ kind: fc.constant("clear" as const) }),
  fc.record({ kind: fc.constant("take" as const) }),
);

describe("OldestFirst", () => {
  it("should take what map.keys().next() names, whatever the map went through", () => {
    fc.assert(
      fc.property(fc.array(operation, { maxLength: 400 }), (operations) => {
        const map = new Map<number, string>();
        const oldest = new OldestFirst(map);
        for (const [index, step] of operations.entries()) {
          if (step.kind === "set") map.set(step.key, `v${index}`);
          else if (step.kind === "touch" && map.has(step.key)) {
            const value = map.get(step.key) as string;
            map.delete(step.key);
            map.set(step.key, value);
          } else if (step.kind === "delete") map.delete(step.key);
          else if (step.kind === "clear") map.clear();
          else if (step.kind === "take") {
            const expected = map.entries().next();
            const size = map.size;
            expect(oldest.take()).toEqual(expected.done ? undefined : expected.value);
            expect(map.size).toBe(Math.max(0, size - 1));
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it("should go on taking entries set after the map was emptied", () => {
    const map = new Map([["a", 1]]);
    const oldest = new OldestFirst(map);
    expect(oldest.take()).toEqual(["a", 1]);
    expect(oldest.take()).toBeUndefined();
    map.set("b", 2).set("c", 3);
    expect(oldest.take()).toEqual(["b", 2]);
    expect([...map.keys()]).toEqual(["c"]);
  });
});
