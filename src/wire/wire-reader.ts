/**
 * Walks protobuf wire-format fields without decoding them and without
 * allocating: each call leaves its results in the reader's fields. The wire
 * layer's one varint reader. A group (wire type 3, the proto2 group and the
 * editions' delimited encoding) is one field from its start tag to its
 * matching end tag, nested groups included: protobuf-es keeps one it does not
 * know as an unknown field, and writes it back so.
 */
export class WireReader {
  /** The last field's tag as written (field number << 3 | wire type). */
  tag = 0;
  /** The last varint read: a varint field's value, or a length. */
  value = 0;
  /** Where the last field's value starts (after its length, for length-delimited fields). */
  valueStart = 0;
  /** Where the field after the last one starts. */
  next = 0;

  /** Reads the field at `at`; false when it is malformed or runs past `end`. */
  field(bytes: Uint8Array, at: number, end: number): boolean {
    let next = this.varint(bytes, at);
    if (next < 0) return false;
    this.tag = this.value;
    this.valueStart = next;
    switch (this.tag & 7) {
      case 0:
        next = this.skipVarint(bytes, next);
        break;
      case 1:
        next += 8;
        break;
      case 2:
        next = this.varint(bytes, next);
        this.valueStart = next;
        next = next < 0 ? -1 : next + this.value;
        break;
      case 3:
        next = this.skipGroup(bytes, next, this.tag >>> 3, end, 1);
        this.value = 0;
        break;
      case 5:
        next += 4;
        break;
      default:
        return false;
    }
    this.next = next;
    return next >= 0 && next <= end && this.tag >>> 3 > 0;
  }

  /**
   * Skips a group's fields up to and past its end tag (wire type 4, the same
   * field number); -1 when it is malformed, does not end before `end`, or
   * nests deeper than protobuf's decoders accept.
   */
  private skipGroup(bytes: Uint8Array, at: number, number: number, end: number, depth: number): number {
    if (depth > maxGroupDepth) return -1;
    let next = at;
    while (next >= 0 && next < end) {
      next = this.varint(bytes, next);
      if (next < 0) return -1;
      const tag = this.value;
      const wireType = tag & 7;
      if (wireType === 4) return tag >>> 3 === number ? next : -1;
      if (wireType === 0) next = this.skipVarint(bytes, next);
      else if (wireType === 1) next += 8;
      else if (wireType === 5) next += 4;
      else if (wireType === 3) next = this.skipGroup(bytes, next, tag >>> 3, end, depth + 1);
      else if (wireType === 2) {
        next = this.varint(bytes, next);
        next = next < 0 ? -1 : next + this.value;
      } else return -1;
    }
    return -1;
  }

  /**
   * Reads a varint of at most 7 bytes (49 bits: tags, lengths, plausible
   * sequence numbers) into `value`; answers where it ends, or -1 (longer
   * varints are read by the generated decoder).
   */
  varint(bytes: Uint8Array, at: number): number {
    let value = 0;
    let scale = 1;
    for (let index = at; index < at + 7 && index < bytes.length; index++) {
      const byte = bytes[index];
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        this.value = value;
        return index + 1;
      }
      scale *= 128;
    }
    return -1;
  }

  /** Skips a varint field's value of up to 10 bytes (any 64-bit value); -1 when it does not end. */
  private skipVarint(bytes: Uint8Array, at: number): number {
    for (let index = at; index < at + 10 && index < bytes.length; index++) {
      if (bytes[index] < 0x80) {
        // `value` holds the low bits only when the varint is short; callers that read it check `next`.
        if (index - at < 7) this.varint(bytes, at);
        else this.value = -1;
        return index + 1;
      }
    }
    return -1;
  }
}

/** Deepest nesting of groups walked: protobuf's own decoders stop at 100 levels of messages. */
const maxGroupDepth = 100;

/** Wire types of the fields the wire layer writes. */
export const varintWireType = 0;
export const lengthDelimitedWireType = 2;

/** The tag of field `number` with `wireType`, as written. */
export function tagOf(number: number, wireType: number): number {
  return (number << 3) | wireType;
}
