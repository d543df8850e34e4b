/**
 * Estimates of the bytes V8 retains for the pieces history, its indexes and
 * the workflow tracker are built of, for the memory bound (`memoryLimitBytes`).
 * They are rounded up from heap snapshots of Node 20 on x64 (8-byte pointers),
 * so an accounted total errs high rather than low: the bound is only worth
 * anything if what it counts is at least what is held.
 */
export const retainedSize = {
  /** One entry of a Map or Set: key, value and chain slots, with the table's slack (it doubles). */
  mapEntry: 48,
  /** An empty Map or Set: the object and its smallest table. */
  emptyMap: 160,
  /** A plain object's header. */
  objectHeader: 24,
  /** One field of a plain object. */
  field: 8,
  /** A typed array with its buffer, apart from its elements. */
  typedArray: 200,
  /** One number in a typed column (4 bytes below 2^32), with the column's slack (it grows by half). */
  columnNumber: 6,
  /** A BigInt of up to 64 bits. */
  bigint: 24,
} as const;

/** Bytes a string of `text`'s length retains: a header and its characters, one byte each unless one needs two. */
export function stringSize(text: string): number {
  const width = oneByte.test(text) ? 1 : 2;
  return 16 + roundUp8(text.length * width);
}

const oneByte = /^[\0-\xff]*$/;

function roundUp8(bytes: number): number {
  return (bytes + 7) & ~7;
}
