import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RecencyMap } from "../../src/wire/recency-map.js";

/** One step: set a key (new or again), touch it, delete it, take the oldest, or sweep (iterate, deleting some values as they are visited). */
const operation = fc.oneof(
  fc.record({ kind: fc.constant("set" as const), key: fc.integer({ min: 0, max: 30 }) }),
  fc.record({ kind: fc.constant("touch" as const), key: fc.integer({ min: 0, max: 30 }) }),
  fc.record({ kind: fc.constant("delete" as const), key: fc.integer({ min: 0, max: 30 }) }),
  fc.record({ kind: fc.constant("take" as const) }),
  fc.record({ kind: fc.constant("sweep" as const), every: fc.integer({ min: 1, max: 4 }) }),
);

describe("RecencyMap", () => {
  it("should keep the order of a list where using an entry moves it last, whatever it went through", () => {
    fc.assert(
      fc.property(fc.array(operation, { maxLength: 300 }), (operations) => {
        const map = new RecencyMap<number, string>();
        // The model: entries least recently used first.
        let model: [number, string][] = [];
        const without = (key: number) => model.filter(([other]) => other !== key);
        for (const [index, step] of operations.entries()) {
          if (step.kind === "set") {
            map.set(step.key, `v${index}`);
            model = [...without(step.key), [step.key, `v${index}`]];
          } else if (step.kind === "touch") {
            const entry = model.find(([key]) => key === step.key);
            expect(map.touch(step.key)).toBe(entry?.[1]);
            if (entry !== undefined) model = [...without(step.key), entry];
          } else if (step.kind === "delete") {
            expect(map.delete(step.key)).toBe(model.some(([key]) => key === step.key));
            model = without(step.key);
          } else if (step.kind === "take") {
            expect(map.takeOldest()).toEqual(model[0]);
            model = model.slice(1);
          } else {
            // As the tracker's idle sweep does: deleting the entry just visited.
            let position = 0;
            const visited: string[] = [];
            for (const value of map.values()) {
              visited.push(value);
              if (position++ % step.every === 0) map.delete((model.find(([, modelValue]) => modelValue === value) as [number, string])[0]);
            }
            expect(visited).toEqual(model.map(([, value]) => value));
            model = model.filter((_, at) => at % step.every !== 0);
          }
          expect(map.size).toBe(model.length);
          expect([...map.values()]).toEqual(model.map(([, value]) => value));
          for (const [key, value] of model) {
            expect(map.has(key)).toBe(true);
            expect(map.get(key)).toBe(value);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it("should leave an entry's place alone on get, and answer undefined for a key it lacks without adding it", () => {
    const map = new RecencyMap<string, number>();
    map.set("a", 1);
    map.set("b", 2);
    expect(map.get("a")).toBe(1);
    expect(map.touch("c")).toBeUndefined();
    expect(map.has("c")).toBe(false);
    expect(map.takeOldest()).toEqual(["a", 1]);
    expect(map.takeOldest()).toEqual(["b", 2]);
    expect(map.takeOldest()).toBeUndefined();
    map.set("d", 4);
    expect([...map.values()]).toEqual([4]);
  });
});
