import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { NumberColumn } from "../../../src/core/history/number-column.js";

describe("NumberColumn", () => {
  it("should behave as an array with push at the end and shift at the front", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constant("shift" as const), fc.nat({ max: 2 ** 31 })), { maxLength: 300 }), (operations) => {
        const column = new NumberColumn(2);
        const model: number[] = [];
        for (const operation of operations) {
          if (operation === "shift") {
            if (model.length === 0) continue;
            column.shift();
            model.shift();
          } else {
            column.push(operation);
            model.push(operation);
          }
        }
        expect(Array.from({ length: column.length }, (_, i) => column.at(i))).toEqual(model);
      }),
      { numRuns: 200 },
    );
  });

  it("should keep values that do not fit 32 bits exactly, widening on the first one", () => {
    const column = new NumberColumn(2);
    const values = [1, 2, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, 1_795_630_195_340.5, 7];
    for (const value of values) column.push(value);
    expect(Array.from({ length: column.length }, (_, i) => column.at(i))).toEqual(values);
  });

  it("should binary-search an ascending column from its current front", () => {
    const column = new NumberColumn();
    for (const value of [10, 20, 30, 40]) column.push(value);
    column.shift();
    expect([column.lowerBound(5), column.lowerBound(20), column.lowerBound(21), column.lowerBound(41)]).toEqual([0, 0, 1, 3]);
  });
});
