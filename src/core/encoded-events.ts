import type { EventEnvelope } from "../../gen/corrbus/v1/envelope_pb.js";

/**
 * The wire form of events already encoded once (for the journal, or read
 * from history), so answers can carry those bytes instead of encoding the
 * event again for every subscriber and every query. Kept on the message
 * object under a symbol, which protobuf-es ignores (it reads fields by their
 * descriptors): it goes when the message does, and costs the garbage
 * collector nothing extra, unlike a WeakMap entry per event (profile of
 * PublishStream: the WeakMap was 2-3 % of the broker's CPU, its ephemerons
 * part of the GC's).
 */
const encodedBytes = Symbol("corrbus.encoded");

type WithEncoding = EventEnvelope & { [encodedBytes]?: Uint8Array };

/** Remembers `encoded` as `event`'s wire form (kept as it is: no copy on the publish path). */
export function rememberEncoding(event: EventEnvelope, encoded: Uint8Array): void {
  (event as WithEncoding)[encodedBytes] = encoded;
}

/** The remembered wire form of `event`, if any. */
export function encodingOf(event: EventEnvelope): Uint8Array | undefined {
  return (event as WithEncoding)[encodedBytes];
}

/**
 * `encoded` (an EventEnvelope) without its payload (field 2): walks the
 * top-level fields and copies all others, so `omit_payloads` costs no decode.
 */
export function withoutPayload(encoded: Uint8Array): Uint8Array {
  const kept: Uint8Array[] = [];
  let at = 0;
  while (at < encoded.length) {
    const start = at;
    const [tag, afterTag] = readVarint(encoded, at);
    at = afterTag;
    const wireType = tag & 7;
    if (wireType === 0) at = readVarint(encoded, at)[1];
    else if (wireType === 2) {
      const [length, afterLength] = readVarint(encoded, at);
      at = afterLength + length;
    } else if (wireType === 5) at += 4;
    else if (wireType === 1) at += 8;
    else return encoded; // Groups: not ours; leave the bytes as they are.
    if (tag >>> 3 !== 2) kept.push(encoded.subarray(start, at));
  }
  return Buffer.concat(kept);
}

function readVarint(bytes: Uint8Array, start: number): [number, number] {
  let value = 0;
  let factor = 1;
  let at = start;
  for (;;) {
    const byte = bytes[at++];
    value += (byte & 0x7f) * factor;
    if ((byte & 0x80) === 0 || at >= bytes.length) return [value, at];
    factor *= 128;
  }
}
