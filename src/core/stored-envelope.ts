import { fromBinary, toBinary } from "@bufbuild/protobuf";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { CorrelationMetadataSchema } from "../../gen/corrbus/v1/correlation_pb.js";
import { type EventEnvelope, EventEnvelopeSchema } from "../../gen/corrbus/v1/envelope_pb.js";

const decoder = new TextDecoder();

/** EventEnvelope.correlation_metadata: field 6, length-delimited. */
const metadataTag = (6 << 3) | 2;
/** CorrelationMetadata.sequence_number: field 4, varint. */
const sequenceTag = (4 << 3) | 0;
/** CorrelationMetadata.final: field 9, varint. */
const finalTag = (9 << 3) | 0;

/**
 * An envelope split for storage: `body` is the envelope's own fields plus the
 * per-event part of its metadata (sequence_number, final); `template` is the
 * rest of the metadata, shared by many events. Protobuf merges repeated
 * occurrences of a message field, so `body ‖ template` decodes to the original
 * envelope, and any protobuf library can read it. event_id and received_at are
 * left out: history keeps them in its columns and puts them back on reading.
 */
export interface SplitEnvelope {
  body: Uint8Array;
  /** The shared metadata as an encoded field 6 (tag, length, bytes), or undefined without metadata. */
  template: Uint8Array | undefined;
  /** Size of the envelope's own encoding: what history bounds count. */
  encodedSize: number;
}

/** Splits a stamped envelope for storage (see SplitEnvelope). */
export function splitForStorage(event: EventEnvelope): SplitEnvelope {
  // Encode the parts by hiding fields for a moment: no copies of the message.
  const { eventId, receivedAt, correlationMetadata: meta } = event;
  event.eventId = 0n;
  event.receivedAt = undefined;
  event.correlationMetadata = undefined;
  const own = toBinary(EventEnvelopeSchema, event);
  event.eventId = eventId;
  event.receivedAt = receivedAt;
  event.correlationMetadata = meta;
  // What the whole envelope encodes to: own fields, the id and time, the metadata.
  const stampSize = (eventId === 0n ? 0 : 1 + varintSize(Number(eventId))) + timestampFieldSize(receivedAt);
  if (meta === undefined) return { body: own, template: undefined, encodedSize: own.length + stampSize };
  const { sequenceNumber, final } = meta;
  meta.sequenceNumber = 0n;
  meta.final = false;
  const shared = toBinary(CorrelationMetadataSchema, meta);
  meta.sequenceNumber = sequenceNumber;
  meta.final = final;

  const perEvent: number[] = [];
  if (sequenceNumber !== 0n) {
    perEvent.push(sequenceTag);
    pushVarint(perEvent, sequenceNumber);
  }
  if (final) perEvent.push(finalTag, 1);
  const body = new Uint8Array(own.length + (perEvent.length > 0 ? 2 + perEvent.length : 0));
  body.set(own);
  if (perEvent.length > 0) body.set([metadataTag, perEvent.length, ...perEvent], own.length);
  const template = wrapField(shared);
  const metadataSize = shared.length + perEvent.length;
  return { body, template, encodedSize: own.length + stampSize + 1 + varintSize(metadataSize) + metadataSize };
}

/** Decodes a stored envelope from its body and, when it has one, its metadata template. */
export function decodeStoredEnvelope(body: Uint8Array, template?: Uint8Array): EventEnvelope {
  if (template === undefined) return fromBinary(EventEnvelopeSchema, body);
  const joined = new Uint8Array(body.length + template.length);
  joined.set(body);
  joined.set(template, body.length);
  return fromBinary(EventEnvelopeSchema, joined);
}

/**
 * Reads the topic of an encoded envelope without decoding the rest: a filter
 * by topic over many stored events then costs a few bytes each. Falls back to
 * a full decode when field 1 is not where protobuf-es writes it (first).
 */
export function peekTopic(bytes: Uint8Array): string {
  // Field 1, wire type 2 (length-delimited): tag byte 0x0a.
  if (bytes.length > 1 && bytes[0] === 0x0a) {
    let length = 0;
    let shift = 0;
    let index = 1;
    while (index < bytes.length && shift < 35) {
      const byte = bytes[index++];
      length |= (byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) {
        if (index + length <= bytes.length) return decoder.decode(bytes.subarray(index, index + length));
        break;
      }
      shift += 7;
    }
  }
  return fromBinary(EventEnvelopeSchema, bytes).topic;
}

function wrapField(message: Uint8Array): Uint8Array {
  const header: number[] = [metadataTag];
  pushVarint(header, BigInt(message.length));
  const wrapped = new Uint8Array(header.length + message.length);
  wrapped.set(header);
  wrapped.set(message, header.length);
  return wrapped;
}

function pushVarint(out: number[], value: bigint): void {
  let rest = value;
  while (rest >= 0x80n) {
    out.push(Number(rest & 0x7fn) | 0x80);
    rest >>= 7n;
  }
  out.push(Number(rest));
}

/** Encoded size of a Timestamp field (tag, length, seconds, nanos); 0 when unset. */
function timestampFieldSize(timestamp: Timestamp | undefined): number {
  if (timestamp === undefined) return 0;
  const seconds = Number(timestamp.seconds);
  const inner = (seconds === 0 ? 0 : 1 + varintSize(seconds)) + (timestamp.nanos === 0 ? 0 : 1 + varintSize(timestamp.nanos));
  return 1 + varintSize(inner) + inner;
}

function varintSize(value: number): number {
  let size = 1;
  for (let rest = value; rest >= 0x80; rest = Math.floor(rest / 128)) size++;
  return size;
}
