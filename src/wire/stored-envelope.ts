import { fromBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { type Timestamp, TimestampSchema, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { type EventEnvelope, EventEnvelopeSchema, type PublisherIdentity } from "../../gen/corrbus/v1/envelope_pb.js";
import { copyBytes, shortRange } from "./byte-copy.js";
import { receivedBytesOf } from "./encoded-events.js";
import { messageDecoder } from "./message-decoder.js";
import { messageEncoder } from "./message-encoder.js";
import { columnStampFields, hostStampFields, isPerEventMetadataField, metadataField, stampFields, topicField } from "./metadata-fields.js";
import { varintSize, writeVarint } from "./varint.js";
import { WireReader, lengthDelimitedWireType, tagOf, varintWireType } from "./wire-reader.js";

/**
 * An envelope split for storage, from the bytes the publisher sent: `body`
 * holds every field as the publisher wrote it (fields this broker does not
 * know included, untouched), but for the broker's stamps and the shared part
 * of the correlation metadata, plus the publisher identity and the per-event
 * part of the metadata (sequence_number, final). `template` is the shared
 * part of the metadata as a field of its own, stored once for the many events
 * that repeat it. Protobuf merges repeated occurrences of a message field, so
 * `body ‖ stamps ‖ template` decodes to the stamped envelope, and any protobuf
 * library can read it. event_id and received_at are left out of `body`:
 * history keeps them in its columns and puts them back on reading.
 */
export interface SplitEnvelope {
  body: Uint8Array;
  /** The shared metadata as an EventEnvelope field (tag, length, bytes); undefined without metadata. */
  template: Uint8Array | undefined;
  /** Identifies the template (its bytes as a string); undefined without metadata. */
  templateKey: string | undefined;
  /** The event_id and received_at fields, for the whole encoding (the journal's). */
  stamps: Uint8Array;
  /** Size of the envelope's whole encoding with one metadata field: what history's byte bound counts. */
  encodedSize: number;
}

/** A template already stored: a split whose shared metadata has the same bytes takes it instead of a copy of its own. */
export interface KnownTemplate {
  key: string;
  bytes: Uint8Array;
}

/** toBinary's bytes but for the broker's stamps (written anew from the message anyway): the source without received bytes. */
const withoutStampsEncoder = messageEncoder(EventEnvelopeSchema, (field) => !stampFields.has(field.number), true);
const stampEncoder = messageEncoder(EventEnvelopeSchema, (field) => columnStampFields.has(field.number));
const publisherEncoder = messageEncoder(EventEnvelopeSchema, (field) => field.number === EventEnvelopeSchema.field.publisher.number);
const hostEncoder = messageEncoder(EventEnvelopeSchema, (field) => hostStampFields.has(field.number));
const metadataTag = tagOf(metadataField, lengthDelimitedWireType);
const publisherField = EventEnvelopeSchema.field.publisher.number;
const reader = new WireReader();

/**
 * Splits a stamped envelope for storage (see SplitEnvelope). Its source is
 * the bytes it was received as, when a decoder kept them, else its encoding
 * from the schema (the compiled encoder writes toBinary's bytes: every field, unknown ones too).
 * `stampedSource`: those bytes are the broker's own, stamps included (the
 * journal's, at start-up), so the publisher field is taken from them as it is.
 */
export function splitForStorage(event: EventEnvelope, recent?: KnownTemplate, stampedSource = false): SplitEnvelope {
  const received = receivedBytesOf(event);
  const walked = (received !== undefined && parts.walk(received)) || parts.walk(withoutStampsEncoder.encode(event));
  // Only unknown fields of groups nested past protobuf's own depth limit get here: refused, never stored half-read.
  if (!walked) throw new ConnectError("envelope: its unknown fields nest groups deeper than 100 levels", Code.InvalidArgument);
  const { source, own, ownSize } = parts;
  const publisher =
    stampedSource && received !== undefined && parts.publisherStart >= 0 ? source.subarray(parts.publisherStart, parts.publisherEnd) : encodePublisher(event);
  const host = encodeHost(event);
  const stamps = encodeStamps(event.eventId, event.receivedAt);
  if (!parts.hasMeta) {
    const body = join(source, own, ownSize, undefined, 0, publisher, host);
    return { body, template: undefined, templateKey: undefined, stamps, encodedSize: body.length + stamps.length };
  }
  const { shared, sharedSize, perEvent, perEventSize } = parts;
  let template: Uint8Array;
  let templateKey: string;
  if (recent !== undefined && sameField(source, shared, sharedSize, metadataTag, recent.bytes)) {
    template = recent.bytes;
    templateKey = recent.key;
  } else {
    template = sliceRanges(source, shared, sharedSize, metadataTag);
    templateKey = Buffer.from(template.buffer, template.byteOffset, template.length).toString("latin1");
  }
  const body = join(source, own, ownSize, perEvent, perEventSize, publisher, host);
  const metaSize = sharedSize + perEventSize;
  const encodedSize = ownSize + publisher.length + host.length + stamps.length + varintSize(metadataTag) + varintSize(metaSize) + metaSize;
  return { body, template, templateKey, stamps, encodedSize };
}

/** The whole envelope in one buffer (fields in another order than toBinary's, which decoders accept): what the journal stores. */
export function joinEnvelope(split: SplitEnvelope): Uint8Array {
  return Buffer.concat(split.template === undefined ? [split.body, split.stamps] : [split.body, split.stamps, split.template]);
}

/**
 * The event_id and received_at fields, as the compiled encoder writes them.
 * Every stored event an answer carries gets its stamps written anew from
 * history's columns, so the usual case (an id and a time as plain numbers)
 * is written with numbers; anything else goes through the compiled encoder.
 */
export function encodeStamps(eventId: bigint, receivedAt: Timestamp | undefined): Uint8Array {
  const id = Number(eventId);
  const seconds = receivedAt === undefined ? 0 : Number(receivedAt.seconds);
  const nanos = receivedAt?.nanos ?? 0;
  const plain =
    Number.isSafeInteger(id) && id >= 0 && Number.isSafeInteger(seconds) && seconds >= 0 && isUint31(nanos) && (receivedAt?.$unknown?.length ?? 0) === 0;
  if (!plain) return stampEncoder.encode({ eventId, receivedAt } as EventEnvelope);
  const out = Buffer.allocUnsafe(stampsSize(id, receivedAt !== undefined, seconds, nanos));
  writeStamps(out, 0, id, receivedAt !== undefined, seconds, nanos);
  return out;
}

/**
 * A stored event's whole wire form in one buffer: its body, its stamps from
 * history's columns (an id and a receive time in ms, as timestampFromMs
 * converts it) and its metadata template, when it has one, as the latin1
 * string MetadataTemplates keeps it in. What every answer carrying a stored
 * event is made of: written with numbers, one allocation.
 */
export function storedEnvelopeBytes(body: Uint8Array, eventId: number, receivedAtMs: number, template: string | undefined): Uint8Array {
  const size = plainStoredSize(body, eventId, receivedAtMs, template);
  if (size < 0) return unusualStoredEnvelope(body, eventId, receivedAtMs, template);
  const out = Buffer.allocUnsafe(size);
  writeStoredEnvelope(out, 0, body, eventId, receivedAtMs, template);
  return out;
}

/** The length of storedEnvelopeBytes' answer, without making it (but for stamps the numeric writers do not take: rare). */
export function storedEnvelopeSize(body: Uint8Array, eventId: number, receivedAtMs: number, template: string | undefined): number {
  const size = plainStoredSize(body, eventId, receivedAtMs, template);
  return size >= 0 ? size : unusualStoredEnvelope(body, eventId, receivedAtMs, template).length;
}

/**
 * Writes storedEnvelopeBytes' bytes into `out` from `start` (room for
 * storedEnvelopeSize bytes); answers where they end. Answers that carry many
 * events write them all into one buffer: a buffer per event made a 100-event
 * FindByTag answer allocate and copy its bytes three times.
 */
export function writeStoredEnvelope(out: Buffer, start: number, body: Uint8Array, eventId: number, receivedAtMs: number, template: string | undefined): number {
  const seconds = Math.floor(receivedAtMs / 1000);
  // As timestampFromMs computes it: `%` differs from it for times past 2^53 / 1000 s.
  const nanos = (receivedAtMs - seconds * 1000) * 1000000;
  if (!plainStamps(eventId, seconds, nanos)) {
    const whole = unusualStoredEnvelope(body, eventId, receivedAtMs, template);
    out.set(whole, start);
    return start + whole.length;
  }
  out.set(body, start);
  let at = writeStamps(out, start + body.length, eventId, true, seconds, nanos);
  if (template !== undefined) at += out.write(template, at, "latin1");
  return at;
}

/** storedEnvelopeBytes' length when its stamps are plain numbers; -1 otherwise. */
function plainStoredSize(body: Uint8Array, eventId: number, receivedAtMs: number, template: string | undefined): number {
  const seconds = Math.floor(receivedAtMs / 1000);
  const nanos = (receivedAtMs - seconds * 1000) * 1000000;
  if (!plainStamps(eventId, seconds, nanos)) return -1;
  return body.length + stampsSize(eventId, true, seconds, nanos) + (template?.length ?? 0);
}

function plainStamps(eventId: number, seconds: number, nanos: number): boolean {
  return Number.isSafeInteger(eventId) && eventId >= 0 && Number.isSafeInteger(seconds) && seconds >= 0 && isUint31(nanos);
}

/** A stored envelope whose stamps the compiled encoder writes. */
function unusualStoredEnvelope(body: Uint8Array, eventId: number, receivedAtMs: number, template: string | undefined): Uint8Array {
  const stamps = encodeStamps(BigInt(eventId), timestampFromMs(receivedAtMs));
  return Buffer.concat(template === undefined ? [body, stamps] : [body, stamps, Buffer.from(template, "latin1")]);
}

/** A non-negative int32: what the numeric stamp writers take (others go to the compiled encoder). */
function isUint31(value: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= 0x7fffffff;
}

function stampsSize(id: number, hasTime: boolean, seconds: number, nanos: number): number {
  const timeSize = hasTime ? (seconds === 0 ? 0 : 1 + varintSize(seconds)) + (nanos === 0 ? 0 : 1 + varintSize(nanos)) : 0;
  return (id === 0 ? 0 : 1 + varintSize(id)) + (hasTime ? 1 + varintSize(timeSize) + timeSize : 0);
}

function writeStamps(out: Buffer, start: number, id: number, hasTime: boolean, seconds: number, nanos: number): number {
  let at = start;
  if (id !== 0) {
    out[at++] = eventIdTag;
    at = writeVarint(out, at, id);
  }
  if (!hasTime) return at;
  out[at++] = receivedAtTag;
  at = writeVarint(out, at, (seconds === 0 ? 0 : 1 + varintSize(seconds)) + (nanos === 0 ? 0 : 1 + varintSize(nanos)));
  if (seconds !== 0) {
    out[at++] = secondsTag;
    at = writeVarint(out, at, seconds);
  }
  if (nanos !== 0) {
    out[at++] = nanosTag;
    at = writeVarint(out, at, nanos);
  }
  return at;
}

// Single-byte tags, from the descriptors (the stamps' field numbers are below 16).
const eventIdTag = tagOf(EventEnvelopeSchema.field.eventId.number, varintWireType);
const receivedAtTag = tagOf(EventEnvelopeSchema.field.receivedAt.number, lengthDelimitedWireType);
const secondsTag = tagOf(TimestampSchema.field.seconds.number, varintWireType);
const nanosTag = tagOf(TimestampSchema.field.nanos.number, varintWireType);

/**
 * Decodes a stored envelope from its body, stamps and, when it has one, its
 * metadata template (fromBinary's message, by the compiled decoder: a replay
 * to a subscriber decodes every event it sends, and fromBinary was a fifth of
 * the broker's time there).
 */
export function decodeStoredEnvelope(body: Uint8Array, template?: Uint8Array): EventEnvelope {
  if (template === undefined) return envelopeDecoder.decode(body);
  return envelopeDecoder.decode(Buffer.concat([body, template]));
}

const envelopeDecoder = messageDecoder(EventEnvelopeSchema);

/**
 * Reads the topic of an encoded envelope without decoding the rest: a filter
 * by topic over many stored events then costs a few bytes each. Falls back to
 * a full decode when the topic is not the first field (where protobuf
 * libraries write it).
 */
export function peekTopic(bytes: Uint8Array): string {
  if (reader.field(bytes, 0, bytes.length) && reader.tag === tagOf(topicField, lengthDelimitedWireType)) {
    return Buffer.from(bytes.buffer, bytes.byteOffset + reader.valueStart, reader.next - reader.valueStart).toString("utf8");
  }
  return fromBinary(EventEnvelopeSchema, bytes).topic;
}

/** host_id of a stored body ("" when it has none), read without decoding it: a central's host index drops events by it. */
export function peekHostId(bytes: Uint8Array): string {
  const hostTag = tagOf(EventEnvelopeSchema.field.hostId.number, lengthDelimitedWireType);
  for (let at = 0; at < bytes.length; at = reader.next) {
    if (!reader.field(bytes, at, bytes.length)) return fromBinary(EventEnvelopeSchema, bytes).hostId;
    if (reader.tag === hostTag) return Buffer.from(bytes.buffer, bytes.byteOffset + reader.valueStart, reader.next - reader.valueStart).toString("utf8");
  }
  return "";
}

/**
 * Ranges [start, end) of the source, alternating in `bounds[0, length)`. Cleared
 * by its count, never by truncating the array: V8 frees a truncated array's
 * storage, and the walk would allocate it again for every event.
 */
class Ranges {
  readonly bounds: number[] = [];
  length = 0;

  clear(): void {
    this.length = 0;
  }

  /** Adds [start, end), joined to the last range when they touch: fields in a row are copied as one. */
  add(start: number, end: number): void {
    if (this.length > 0 && this.bounds[this.length - 1] === start) {
      this.bounds[this.length - 1] = end;
    } else {
      this.bounds[this.length++] = start;
      this.bounds[this.length++] = end;
    }
  }

  /** Adds [start, end) as a range of its own. */
  push(start: number, end: number): void {
    this.bounds[this.length++] = start;
    this.bounds[this.length++] = end;
  }
}

/**
 * An envelope's fields sorted into parts. The metadata may come in several
 * occurrences (the broker's own stored form has two: per-event fields in the
 * body, shared ones in the template) as long as no field number is in two of
 * them: merging them is then concatenating them. Otherwise only the generated
 * decoder says how they merge. One walk is reused for every split (a split
 * reads it to the end before the next one starts): its ranges were most of
 * what the broker allocated per event.
 */
class EnvelopeWalk {
  source: Uint8Array = new Uint8Array(0);
  /** The fields kept as they are: all but the stamps and the metadata. */
  readonly own = new Ranges();
  ownSize = 0;
  hasMeta = false;
  readonly shared = new Ranges();
  sharedSize = 0;
  readonly perEvent = new Ranges();
  perEventSize = 0;
  /** The publisher field [start, end) when the source has exactly one, else -1. */
  publisherStart = -1;
  publisherEnd = -1;
  private readonly metaFields = new Ranges();

  /** Sorts `source`'s fields into the parts; false when the bytes cannot be walked here. */
  walk(source: Uint8Array): boolean {
    this.source = source;
    const { own, metaFields, shared, perEvent } = this;
    own.clear();
    metaFields.clear();
    shared.clear();
    perEvent.clear();
    this.ownSize = 0;
    this.sharedSize = 0;
    this.perEventSize = 0;
    this.publisherStart = -1;
    this.publisherEnd = -1;
    let publishers = 0;
    for (let at = 0; at < source.length; at = reader.next) {
      if (!reader.field(source, at, source.length)) return false;
      const number = reader.tag >>> 3;
      if (number === metadataField && (reader.tag & 7) === lengthDelimitedWireType) {
        metaFields.push(reader.valueStart, reader.next);
      } else if (!stampFields.has(number)) {
        own.add(at, reader.next);
        this.ownSize += reader.next - at;
      } else if (number === publisherField) {
        this.publisherStart = at;
        this.publisherEnd = reader.next;
        publishers++;
      }
    }
    if (publishers !== 1) this.publisherStart = this.publisherEnd = -1;
    this.hasMeta = metaFields.length > 0;
    const occurrenceOf = metaFields.length > 2 ? new Map<number, number>() : undefined;
    for (let occurrence = 0; occurrence < metaFields.length; occurrence += 2) {
      const metaEnd = metaFields.bounds[occurrence + 1];
      for (let at = metaFields.bounds[occurrence]; at < metaEnd; at = reader.next) {
        if (!reader.field(source, at, metaEnd)) return false;
        const number = reader.tag >>> 3;
        if (occurrenceOf !== undefined) {
          const seenIn = occurrenceOf.get(number);
          if (seenIn !== undefined && seenIn !== occurrence) return false;
          occurrenceOf.set(number, occurrence);
        }
        if (isPerEventMetadataField(number)) {
          perEvent.add(at, reader.next);
          this.perEventSize += reader.next - at;
        } else {
          shared.add(at, reader.next);
          this.sharedSize += reader.next - at;
        }
      }
    }
    return true;
  }
}

const parts = new EnvelopeWalk();

/** The body: own fields, the per-event metadata as a field 6 of its own (when there is any), the publisher, the host stamps. */
function join(
  source: Uint8Array,
  own: Ranges,
  ownSize: number,
  perEvent: Ranges | undefined,
  perEventSize: number,
  publisher: Uint8Array,
  host: Uint8Array,
): Uint8Array {
  const metaField = perEventSize > 0 ? varintSize(metadataTag) + varintSize(perEventSize) + perEventSize : 0;
  const out = Buffer.allocUnsafe(ownSize + metaField + publisher.length + host.length);
  let at = copyRanges(source, own, out, 0);
  if (perEvent !== undefined && perEventSize > 0) {
    at = writeVarint(out, at, metadataTag);
    at = writeVarint(out, at, perEventSize);
    at = copyRanges(source, perEvent, out, at);
  }
  out.set(publisher, at);
  out.set(host, at + publisher.length);
  return out;
}

/** The ranges as the value of one length-delimited field with `tag`. */
function sliceRanges(source: Uint8Array, ranges: Ranges, size: number, tag: number): Uint8Array {
  const out = Buffer.allocUnsafe(varintSize(tag) + varintSize(size) + size);
  let at = writeVarint(out, 0, tag);
  at = writeVarint(out, at, size);
  copyRanges(source, ranges, out, at);
  return out;
}

/** Copies the ranges of `source` into `out` at `start`; answers where they end. */
function copyRanges(source: Uint8Array, ranges: Ranges, out: Buffer, start: number): number {
  let at = start;
  for (let index = 0; index < ranges.length; index += 2) at = copyBytes(source, ranges.bounds[index], ranges.bounds[index + 1], out, at);
  return at;
}

/** Whether `field` is the ranges as the value of one length-delimited field with `tag`, compared in place (no copy). */
function sameField(source: Uint8Array, ranges: Ranges, size: number, tag: number, field: Uint8Array): boolean {
  const header = varintSize(tag) + varintSize(size);
  if (field.length !== header + size) return false;
  const from = asBuffer(source);
  const other = asBuffer(field);
  const tagEnd = reader.varint(other, 0);
  if (tagEnd !== varintSize(tag) || reader.value !== tag || reader.varint(other, tagEnd) !== header || reader.value !== size) return false;
  let at = header;
  for (let index = 0; index < ranges.length; index += 2) {
    const start = ranges.bounds[index];
    const length = ranges.bounds[index + 1] - start;
    if (length <= shortRange) {
      for (let byte = 0; byte < length; byte++) if (source[start + byte] !== field[at + byte]) return false;
    } else if (from.compare(other, at, at + length, start, start + length) !== 0) {
      return false;
    }
    at += length;
  }
  return true;
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * The publisher field, encoded once per identity: a connection stamps the
 * same, never-modified identity message on every event. Kept on the message
 * under a symbol (protobuf-es reads fields by descriptor and ignores it).
 */
const encodedPublisher = Symbol("corrbus.encodedPublisher");

function encodePublisher(event: EventEnvelope): Uint8Array {
  const identity = event.publisher as (PublisherIdentity & { [encodedPublisher]?: Uint8Array }) | undefined;
  if (identity === undefined) return empty;
  return (identity[encodedPublisher] ??= publisherEncoder.encode(event));
}

/**
 * The host stamps (see hostStampFields), which every stored body carries after
 * the publisher. A host's own events all carry the same host_id alone, so that
 * encoding is kept for the next one.
 */
let lastHost: { hostId: string; bytes: Uint8Array } = { hostId: "", bytes: new Uint8Array(0) };

function encodeHost(event: EventEnvelope): Uint8Array {
  if (event.originEventId !== 0n || event.originReceivedAt !== undefined) return hostEncoder.encode(event);
  if (event.hostId !== lastHost.hostId) lastHost = { hostId: event.hostId, bytes: hostEncoder.encode(event) };
  return lastHost.bytes;
}

const empty = new Uint8Array(0);
