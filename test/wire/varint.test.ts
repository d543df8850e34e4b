import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { varint64Size, varintSize, writeVarint, writeVarint64 } from "../../src/wire/varint.js";

/** Base-128 digits, least significant first, each but the last with the continuation bit: the definition. */
function referenceVarint(value: bigint): number[] {
  const bytes: number[] = [];
  let rest = BigInt.asUintN(64, value);
  while (rest >= 128n) {
    bytes.push(Number(rest % 128n) | 0x80);
    rest /= 128n;
  }
  bytes.push(Number(rest));
  return bytes;
}

/** Every boundary where a varint gains a byte, and the 32-bit boundary of the fast path, with their neighbours. */
const boundaries = [0, 7, 14, 21, 28, 31, 32, 35, 42, 49].flatMap((bits) => [2 ** bits - 1, 2 ** bits, 2 ** bits + 1]).filter((value) => value >= 0);

describe("varint", () => {
  it("should write every number up to 2^53 as the definition says, sized exactly", () => {
    const numbers = fc.oneof(fc.constantFrom(...boundaries, Number.MAX_SAFE_INTEGER), fc.maxSafeNat(), fc.nat());
    fc.assert(
      fc.property(numbers, (value) => {
        const out = new Uint8Array(10);
        const end = writeVarint(out, 0, value);
        expect([...out.subarray(0, end)]).toEqual(referenceVarint(BigInt(value)));
        expect(varintSize(value)).toBe(end);
      }),
      { numRuns: 2000 },
    );
  });

  it("should write every 64-bit value as the definition says (negative ones as their two's complement), sized exactly", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }), (value) => {
        const out = new Uint8Array(10);
        const end = writeVarint64(out, 0, value);
        expect([...out.subarray(0, end)]).toEqual(referenceVarint(value));
        expect(varint64Size(value)).toBe(end);
      }),
      { numRuns: 2000 },
    );
  });
});
