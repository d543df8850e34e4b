// Byte-level mutations shared by the fuzz suites (not a test file itself).
import fc from "fast-check";

/** Concatenates byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** One mutation step; positions are taken modulo the input's length. */
type Step =
  | { kind: "flip"; at: number; bit: number }
  | { kind: "set"; at: number; value: number }
  | { kind: "insert"; at: number; bytes: Uint8Array }
  | { kind: "delete"; at: number; count: number }
  | { kind: "duplicate"; at: number; count: number }
  | { kind: "truncate"; at: number }
  | { kind: "varint"; at: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  // Bytes that matter to protobuf, HTTP/2 and UTF-8: tags, varint continuation, invalid UTF-8 leads.
  fc.record({
    kind: fc.constant("set" as const),
    at: fc.nat(),
    value: fc.constantFrom(0x00, 0x80, 0xff, 0x7f, 0x0a, 0x12, 0x1a, 0x22, 0x32, 0x3a, 0xc0, 0xed, 0x0b, 0x0c),
  }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 12 }) }),
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat(), count: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant("duplicate" as const), at: fc.nat(), count: fc.integer({ min: 1, max: 32 }) }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("varint" as const), at: fc.nat() }),
);

/** Applies mutation steps to a copy of `input`. */
export function mutate(input: Uint8Array, steps: readonly Step[]): Uint8Array {
  let bytes: Uint8Array = Uint8Array.from(input);
  for (const current of steps) {
    const at = bytes.length === 0 ? 0 : current.at % (bytes.length + 1);
    switch (current.kind) {
      case "flip":
        if (bytes.length > 0) bytes[at % bytes.length] ^= 1 << current.bit;
        break;
      case "set":
        if (bytes.length > 0) bytes[at % bytes.length] = current.value;
        break;
      case "insert":
        bytes = concat(bytes.subarray(0, at), current.bytes, bytes.subarray(at));
        break;
      case "delete":
        bytes = concat(bytes.subarray(0, at), bytes.subarray(at + current.count));
        break;
      case "duplicate":
        bytes = concat(bytes.subarray(0, at + current.count), bytes.subarray(at));
        break;
      case "truncate":
        bytes = bytes.subarray(0, at);
        break;
      case "varint":
        // An overlong varint (ten bytes, or a length no buffer has).
        bytes = concat(bytes.subarray(0, at), new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]), bytes.subarray(at));
        break;
    }
  }
  return bytes;
}

/** Mutation steps: flip, overwrite, insert, delete, duplicate, truncate, overlong varint. */
export function mutationSteps(maxSteps = 2): fc.Arbitrary<Step[]> {
  return fc.array(step, { minLength: 1, maxLength: maxSteps });
}

/** A function mutating its input by 1..maxSteps steps. */
export function byteMutations(maxSteps = 2): fc.Arbitrary<(bytes: Uint8Array) => Uint8Array> {
  return mutationSteps(maxSteps).map((steps) => (bytes: Uint8Array) => mutate(bytes, steps));
}
