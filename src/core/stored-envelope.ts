import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { type CorrelationMetadata, CorrelationMetadataSchema } from "../../gen/corrbus/v1/correlation_pb.js";
import { type EventEnvelope, EventEnvelopeSchema } from "../../gen/corrbus/v1/envelope_pb.js";
import { encodeOwnFields, encodeStampFields, sizeOwnFields, varintSize, writeOwnFields, writeVarint } from "./envelope-encoding.js";
import { encodeMetadata } from "./metadata-encoding.js";

const decoder = new TextDecoder();

/** EventEnvelope.correlation_metadata: field 6, length-delimited. */
const metadataTag = (6 << 3) | 2;
/** CorrelationMetadata.sequence_number: field 4, varint. */
const sequenceTag = (4 << 3) | 0;
/** CorrelationMetadata.final: field 9, varint. */
const finalTag = (9 << 3) | 0;

/**
 * An envelope split for storage: `body` is the envelope's own fields plus the
 * per-event part of its metadata (sequence_number, final); the template is the
 * rest of the metadata, shared by many events and stored once (see
 * MetadataTemplates). Protobuf merges repeated occurrences of a message field,
 * so `body ‖ template` decodes to the original envelope, and any protobuf
 * library can read it. event_id and received_at are left out of `body`:
 * history keeps them in its columns and puts them back on reading.
 */
export interface SplitEnvelope {
  body: Uint8Array;
  /** Identifies the shared metadata without encoding it (undefined without metadata). */
  templateKey: string | undefined;
  /** Encodes the shared metadata as a field 6 (tag, length, bytes); called only when the key is new. */
  encodeTemplate: () => Uint8Array;
  /** The event_id and received_at fields, for the whole encoding (the journal's). */
  stamps: Uint8Array;
  /** Size of the envelope's whole encoding: what history's byte bound counts. */
  encodedSize: number;
}

/**
 * Splits a stamped envelope for storage (see SplitEnvelope). `knownTemplate`
 * answers the stored template of a key, if any: then the shared metadata is
 * not encoded again (most events repeat their correlation's metadata).
 */
export function splitForStorage(
  event: EventEnvelope,
  knownTemplate: (key: string) => Uint8Array | undefined = () => undefined,
  keyOf: (meta: CorrelationMetadata) => string | undefined = metadataKey,
): SplitEnvelope {
  const meta = event.correlationMetadata;
  const stamps = encodeStamps(event);
  if (meta === undefined) {
    const own = encodeOwnFields(event, false) ?? encodeOwnSlowly(event);
    return { body: own, templateKey: undefined, encodeTemplate: () => new Uint8Array(0), stamps, encodedSize: own.length + stamps.length };
  }
  const body = encodeBody(event, meta);
  const perEventSize = body.perEventSize;
  const ownSize = body.bytes.length - (perEventSize > 0 ? 2 + perEventSize : 0);
  let template: Uint8Array | undefined;
  const encodeTemplate = () => (template ??= wrapField(encodeShared(meta)));
  // Metadata with unknown fields has no cheap key: its bytes are the key.
  const templateKey = keyOf(meta) ?? `bytes:${Buffer.from(encodeTemplate()).toString("latin1")}`;
  template = knownTemplate(templateKey) ?? template;
  const metadataSize = wrappedSize(encodeTemplate()) + perEventSize;
  return {
    body: body.bytes,
    templateKey,
    encodeTemplate,
    stamps,
    encodedSize: ownSize + stamps.length + 1 + varintSize(metadataSize) + metadataSize,
  };
}

/**
 * The body of an event with metadata: its own fields, then a field 6 holding
 * only sequence_number and final, written once into one buffer (the per-event
 * part is at most 13 bytes, so its length is one byte).
 */
function encodeBody(event: EventEnvelope, meta: CorrelationMetadata): { bytes: Uint8Array; perEventSize: number } {
  const sequence = Number(meta.sequenceNumber);
  const sizes = sizeOwnFields(event, false);
  if (sizes === undefined || !Number.isSafeInteger(sequence)) return encodeBodySlowly(event, meta);
  const perEventSize = (sequence !== 0 ? 1 + varintSize(sequence) : 0) + (meta.final ? 2 : 0);
  const bytes = Buffer.allocUnsafe(sizes.total + (perEventSize > 0 ? 2 + perEventSize : 0));
  let at = writeOwnFields(bytes, 0, event, sizes, false);
  if (perEventSize > 0) {
    bytes[at++] = metadataTag;
    bytes[at++] = perEventSize;
    if (sequence !== 0) {
      bytes[at++] = sequenceTag;
      at = writeVarint(bytes, at, sequence);
    }
    if (meta.final) {
      bytes[at++] = finalTag;
      bytes[at++] = 1;
    }
  }
  return { bytes, perEventSize };
}

/** encodeBody for envelopes the fast encoder leaves alone, or sequence numbers past 2^53. */
function encodeBodySlowly(event: EventEnvelope, meta: CorrelationMetadata): { bytes: Uint8Array; perEventSize: number } {
  const own = encodeOwnFields(event, false) ?? encodeOwnSlowly(event);
  const perEvent: number[] = [];
  if (meta.sequenceNumber !== 0n) {
    perEvent.push(sequenceTag);
    pushVarint(perEvent, meta.sequenceNumber);
  }
  if (meta.final) perEvent.push(finalTag, 1);
  const perEventSize = perEvent.length;
  const bytes = Buffer.allocUnsafe(own.length + (perEventSize > 0 ? 2 + perEventSize : 0));
  bytes.set(own);
  if (perEventSize > 0) {
    bytes[own.length] = metadataTag;
    bytes[own.length + 1] = perEventSize;
    for (let index = 0; index < perEventSize; index++) bytes[own.length + 2 + index] = perEvent[index];
  }
  return { bytes, perEventSize };
}

/** The metadata without its per-event fields (sequence_number, final): the part events share. */
function encodeShared(meta: CorrelationMetadata): Uint8Array {
  const fast = encodeMetadata(meta, false);
  if (fast !== undefined) return fast;
  return toBinary(CorrelationMetadataSchema, create(CorrelationMetadataSchema, { ...meta, sequenceNumber: 0n, final: false }));
}

/** Size of the message inside a wrapped field 6 (tag, length varint, bytes). */
function wrappedSize(wrapped: Uint8Array): number {
  let at = 1;
  while (wrapped[at] & 0x80) at++;
  return wrapped.length - at - 1;
}

/**
 * The whole envelope in one buffer, as protobuf writes it (fields in another
 * order than toBinary's, which decoders accept): what the journal stores.
 */
export function joinEnvelope(split: SplitEnvelope, template: Uint8Array | undefined): Uint8Array {
  const parts = template === undefined ? [split.body, split.stamps] : [split.body, split.stamps, template];
  return Buffer.concat(parts);
}

/** A string that equals another's exactly when the shared metadata does; undefined when unknown fields make that unsure. */
export function metadataKey(meta: CorrelationMetadata): string | undefined {
  if (meta.$unknown !== undefined && meta.$unknown.length > 0) return undefined;
  const started = meta.startedAt === undefined ? "-" : `${meta.startedAt.seconds}.${meta.startedAt.nanos}`;
  const parent = meta.parentCorrelationId === undefined ? "-" : `+${meta.parentCorrelationId}`;
  let key = `${meta.correlationId}|${parent}|${meta.rootCorrelationId}|${started}|${meta.workflowStage.length}:${meta.workflowStage}|${meta.sourceProcess.length}:${meta.sourceProcess}`;
  // Insertion order is part of the key: the encoding follows it.
  for (const name in meta.correlationTags) {
    const value = meta.correlationTags[name];
    key += `|${name.length}:${name}=${value.length}:${value}`;
  }
  return key;
}

function encodeStamps(event: EventEnvelope): Uint8Array {
  if (event.receivedAt !== undefined && (event.receivedAt.seconds < 0n || event.receivedAt.nanos < 0)) {
    return toBinary(EventEnvelopeSchema, create(EventEnvelopeSchema, { eventId: event.eventId, receivedAt: event.receivedAt }));
  }
  return encodeStampFields(event.eventId, event.receivedAt);
}

/** toBinary of the own fields, for envelopes the fast encoder leaves alone. */
function encodeOwnSlowly(event: EventEnvelope): Uint8Array {
  const { eventId, receivedAt, correlationMetadata } = event;
  event.eventId = 0n;
  event.receivedAt = undefined;
  event.correlationMetadata = undefined;
  const own = toBinary(EventEnvelopeSchema, event);
  event.eventId = eventId;
  event.receivedAt = receivedAt;
  event.correlationMetadata = correlationMetadata;
  return own;
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
