/** Ranges up to this long are copied byte by byte: a native call costs more than the loop. */
export const shortRange = 48;

/** Copies `source[from, end)` into `out` at `at`; answers where the copy ends. */
export function copyBytes(source: Uint8Array, from: number, end: number, out: Uint8Array, at: number): number {
  if (end - from <= shortRange) {
    let to = at;
    for (let byte = from; byte < end; byte++) out[to++] = source[byte];
    return to;
  }
  const buffer = Buffer.isBuffer(source) ? source : Buffer.from(source.buffer, source.byteOffset, source.byteLength);
  return at + buffer.copy(out, at, from, end);
}
