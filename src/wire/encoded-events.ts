import type { EventEnvelope } from "../../gen/corrbus/v1/envelope_pb.js";
import { payloadField } from "./metadata-fields.js";
import { WireReader } from "./wire-reader.js";

/**
 * Wire forms kept on decoded and stamped events, so nobody encodes an event
 * again: the bytes an envelope was received as (what storage keeps, fields
 * this broker does not know included), and the whole stamped encoding (what
 * subscribers and query answers carry). Kept on the message object under
 * symbols, which protobuf-es ignores (it reads fields by their descriptors):
 * they go when the message does, and cost the garbage collector nothing extra,
 * unlike a WeakMap entry per event.
 */
const encodedBytes = Symbol("corrbus.encoded");
const receivedBytes = Symbol("corrbus.received");

type WithEncoding = EventEnvelope & { [encodedBytes]?: Uint8Array; [receivedBytes]?: Uint8Array };

/** Remembers `encoded` as `event`'s whole stamped wire form (kept as it is: no copy on the publish path). */
export function rememberEncoding(event: EventEnvelope, encoded: Uint8Array): void {
  (event as WithEncoding)[encodedBytes] = encoded;
}

/** The remembered wire form of `event`, if any. */
export function encodingOf(event: EventEnvelope): Uint8Array | undefined {
  return (event as WithEncoding)[encodedBytes];
}

/**
 * Remembers the bytes `event` was decoded from, exactly: storage keeps them
 * (but for the broker's stamps), so every field survives the broker. Only
 * for a message decoded from these bytes and not changed since but for the
 * broker's stamps. A shallow copy (`{ ...event }`) carries them along.
 */
export function rememberReceived(event: EventEnvelope, bytes: Uint8Array): EventEnvelope {
  // A plain property (defineProperty was a runtime call per event): a shallow copy of the message keeps it.
  (event as WithEncoding)[receivedBytes] = bytes;
  return event;
}

/** The bytes `event` was decoded from, if a decoder kept them. */
export function receivedBytesOf(event: EventEnvelope): Uint8Array | undefined {
  return (event as WithEncoding)[receivedBytes];
}

const reader = new WireReader();

/**
 * `encoded` (an EventEnvelope) without its payload: walks the top-level
 * fields and copies all others, so `omit_payloads` costs no decode. Bytes
 * that cannot be walked (malformed) are answered as they are.
 */
export function withoutPayload(encoded: Uint8Array): Uint8Array {
  const kept: Uint8Array[] = [];
  for (let at = 0; at < encoded.length; at = reader.next) {
    if (!reader.field(encoded, at, encoded.length)) return encoded;
    if (reader.tag >>> 3 !== payloadField) kept.push(encoded.subarray(at, reader.next));
  }
  return Buffer.concat(kept);
}
