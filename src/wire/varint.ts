/**
 * The one varint writer of the wire layer (protobuf base-128 varints). Numbers
 * up to 2^53 take the Number path; larger or negative 64-bit values the
 * bigint one.
 */

/** Bytes of a varint for a non-negative integer up to 2^53. */
export function varintSize(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  let size = 3;
  for (let rest = value; rest >= 0x200000; rest = Math.floor(rest / 128)) size++;
  return size;
}

/** Writes a non-negative integer up to 2^53 as a varint; answers the next offset. */
export function writeVarint(out: Uint8Array, start: number, value: number): number {
  let at = start;
  if (value < 0x80000000) {
    // Lengths, tags and ids below 2^31 (nearly all): 32-bit operations instead of division.
    let small = value;
    while (small >= 0x80) {
      out[at++] = (small & 0x7f) | 0x80;
      small >>>= 7;
    }
    out[at++] = small;
    return at;
  }
  let rest = value;
  while (rest >= 0x80) {
    out[at++] = (rest % 128) | 0x80;
    rest = Math.floor(rest / 128);
  }
  out[at++] = rest;
  return at;
}

/** Bytes of a varint for a 64-bit value (negative values as their two's complement, as protobuf writes them). */
export function varint64Size(value: bigint): number {
  const unsigned = BigInt.asUintN(64, value);
  if (unsigned <= maxSafe) return varintSize(Number(unsigned));
  let size = 1;
  for (let rest = unsigned; rest >= 0x80n; rest >>= 7n) size++;
  return size;
}

/** Writes a 64-bit value as a varint (negative values as their two's complement); answers the next offset. */
export function writeVarint64(out: Uint8Array, start: number, value: bigint): number {
  const unsigned = BigInt.asUintN(64, value);
  if (unsigned <= maxSafe) return writeVarint(out, start, Number(unsigned));
  let at = start;
  let rest = unsigned;
  while (rest >= 0x80n) {
    out[at++] = Number(rest & 0x7fn) | 0x80;
    rest >>= 7n;
  }
  out[at++] = Number(rest);
  return at;
}

const maxSafe = BigInt(Number.MAX_SAFE_INTEGER);
