import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { readAhead } from "../../src/client/read-ahead.js";

/** A source of `values` that then ends or throws, counting how far it was pulled. */
function countingSource(values: number[], failure: Error | undefined) {
  const state = { pulled: 0 };
  async function* generate(): AsyncGenerator<number> {
    for (const value of values) {
      state.pulled++;
      yield value;
    }
    if (failure !== undefined) throw failure;
  }
  return { iterator: generate(), state };
}

const settled = () => new Promise((resolve) => setTimeout(resolve, 0));

describe("readAhead", () => {
  it("should pull while the caller is busy, up to the weight limit, and no further", async () => {
    const { iterator, state } = countingSource([1, 1, 1, 1, 1, 1], undefined);
    const ahead = readAhead(iterator, 3, (value) => value);
    await settled();
    expect(state.pulled).toBe(3);
    expect(await ahead.next()).toEqual({ done: false, value: 1 });
    await settled();
    expect(state.pulled).toBe(4);
  });

  it("should hold one result even when it alone is over the limit", async () => {
    const { iterator, state } = countingSource([10, 10], undefined);
    const ahead = readAhead(iterator, 3, (value) => value);
    await settled();
    expect(state.pulled).toBe(1);
    expect(await ahead.next()).toEqual({ done: false, value: 10 });
  });

  it("should hand over every value in order, then the error once, then the end, for any source and caller pace", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 20 }),
        fc.boolean(),
        fc.integer({ min: 0, max: 8 }),
        fc.array(fc.boolean(), { minLength: 25, maxLength: 25 }),
        async (values, fails, limit, pauses) => {
          const failure = fails ? new Error("lost") : undefined;
          const ahead = readAhead(countingSource(values, failure).iterator, limit, (value) => value);
          const seen: number[] = [];
          let thrown: unknown;
          for (let step = 0; ; step++) {
            if (pauses[step % pauses.length]) await settled();
            try {
              const result = await ahead.next();
              if (result.done) break;
              seen.push(result.value);
            } catch (error) {
              thrown = error;
            }
          }
          expect(seen).toEqual(values);
          expect(thrown).toBe(failure);
          expect(await ahead.next()).toEqual({ done: true, value: undefined });
        },
      ),
      { numRuns: 300 },
    );
  });

  it("should refuse a second next() while one is pending", async () => {
    const ahead = readAhead(
      (async function* () {
        await new Promise(() => {});
      })(),
      1,
      () => 1,
    );
    void ahead.next();
    await expect(ahead.next()).rejects.toThrow(/before the last call settled/);
  });
});
