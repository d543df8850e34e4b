/**
 * UTF-8 size of a string. Ids, topics, stages and tags are short ASCII: a
 * loop over their characters beats a native call per string (the encoders'
 * largest cost after the buffer).
 */
export function utf8Size(text: string): number {
  if (text.length > shortString) return Buffer.byteLength(text);
  for (let index = 0; index < text.length; index++) {
    if (text.charCodeAt(index) >= 0x80) return Buffer.byteLength(text);
  }
  return text.length;
}

/** Writes `text` (of UTF-8 size `size`, from utf8Size) at `start`; answers the next offset. */
export function writeUtf8(out: Uint8Array, start: number, text: string, size: number): number {
  if (size !== text.length || size > shortString) return start + Buffer.from(out.buffer, out.byteOffset, out.byteLength).write(text, start, "utf8");
  for (let index = 0; index < size; index++) out[start + index] = text.charCodeAt(index);
  return start + size;
}

/** Strings up to this long are sized and written by the loops above. */
const shortString = 64;
