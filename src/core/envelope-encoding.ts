import type { Timestamp } from "@bufbuild/protobuf/wkt";
import type { EventEnvelope, PublisherIdentity } from "../../gen/corrbus/v1/envelope_pb.js";

/**
 * A hand-written encoder for the envelope fields the broker stores on every
 * event (everything but correlation_metadata). protobuf-es's toBinary grows
 * its writer buffer step by step and was a fifth of the publish path's CPU
 * (profile: ensureCapacity, finish); this computes the exact size first and
 * writes once. Its output is the same canonical encoding (field order,
 * proto3 presence), which tests compare with toBinary. Messages carrying
 * unknown fields (from a newer schema) are not handled: `undefined` tells
 * the caller to use toBinary, which keeps them.
 */
export function encodeOwnFields(event: EventEnvelope, withStamps: boolean): Uint8Array | undefined {
  const sizes = sizeOwnFields(event, withStamps);
  if (sizes === undefined) return undefined;
  const out = Buffer.allocUnsafe(sizes.total);
  return out.subarray(0, writeOwnFields(out, 0, event, sizes, withStamps));
}

/** The sizes encodeOwnFields would write (undefined where it answers undefined): to write the fields into a larger buffer. */
export function sizeOwnFields(event: EventEnvelope, withStamps: boolean): FieldSizes | undefined {
  if (hasUnknown(event) || hasUnknown(event.timestamp) || hasUnknown(event.publisher) || hasUnknown(event.receivedAt)) return undefined;
  if (isNegative(event.timestamp) || isNegative(event.receivedAt)) return undefined;
  return new FieldSizes(event, withStamps);
}

/** Writes what encodeOwnFields encodes into `out` at `start`, with the sizes from sizeOwnFields; answers where it ended. */
export function writeOwnFields(out: Buffer, start: number, event: EventEnvelope, sizes: FieldSizes, withStamps: boolean): number {
  let at = start;
  if (sizes.topic > 0) {
    out[at++] = 0x0a;
    at = writeVarint(out, at, sizes.topic);
    at = writeUtf8(out, at, event.topic, sizes.topic);
  }
  if (event.payload.length > 0) {
    out[at++] = 0x12;
    at = writeVarint(out, at, event.payload.length);
    out.set(event.payload, at);
    at += event.payload.length;
  }
  if (sizes.contentType > 0) {
    out[at++] = 0x1a;
    at = writeVarint(out, at, sizes.contentType);
    at = writeUtf8(out, at, event.contentType, sizes.contentType);
  }
  if (event.timestamp !== undefined) at = writeTimestamp(out, at, 0x22, event.timestamp, sizes.timestamp);
  if (event.publisherProcessId !== 0) {
    out[at++] = 0x28;
    at = writeVarint(out, at, event.publisherProcessId);
  }
  if (withStamps && event.eventId !== 0n) {
    out[at++] = 0x50;
    at = writeVarint(out, at, Number(event.eventId));
  }
  if (withStamps && event.receivedAt !== undefined) at = writeTimestamp(out, at, 0x5a, event.receivedAt, sizes.receivedAt);
  if (event.publisher !== undefined) at = writePublisher(out, at, event.publisher, sizes.publisher);
  return at;
}

/** Just the broker's stamps: event_id (field 10) and received_at (field 11). */
export function encodeStampFields(eventId: bigint, receivedAt: Timestamp | undefined): Uint8Array {
  const id = Number(eventId);
  const timeSize = timestampSize(receivedAt);
  const out = Buffer.allocUnsafe((id === 0 ? 0 : 1 + varintSize(id)) + (receivedAt === undefined ? 0 : 1 + varintSize(timeSize) + timeSize));
  let at = 0;
  if (id !== 0) {
    out[at++] = 0x50;
    at = writeVarint(out, at, id);
  }
  if (receivedAt !== undefined) at = writeTimestamp(out, at, 0x5a, receivedAt, timeSize);
  return out.subarray(0, at);
}

/** The encoded sizes of an envelope's own fields, and their total. */
export class FieldSizes {
  topic: number;
  contentType: number;
  timestamp: number;
  receivedAt: number;
  publisher: number;
  total = 0;

  constructor(event: EventEnvelope, withStamps: boolean) {
    this.topic = utf8Size(event.topic);
    this.contentType = utf8Size(event.contentType);
    this.timestamp = timestampSize(event.timestamp);
    this.receivedAt = withStamps ? timestampSize(event.receivedAt) : 0;
    this.publisher = publisherSize(event.publisher);
    const lengthDelimited = (size: number) => 1 + varintSize(size) + size;
    if (this.topic > 0) this.total += lengthDelimited(this.topic);
    if (event.payload.length > 0) this.total += lengthDelimited(event.payload.length);
    if (this.contentType > 0) this.total += lengthDelimited(this.contentType);
    if (event.timestamp !== undefined) this.total += lengthDelimited(this.timestamp);
    if (event.publisherProcessId !== 0) this.total += 1 + varintSize(event.publisherProcessId);
    if (withStamps && event.eventId !== 0n) this.total += 1 + varintSize(Number(event.eventId));
    if (withStamps && event.receivedAt !== undefined) this.total += lengthDelimited(this.receivedAt);
    if (event.publisher !== undefined) this.total += lengthDelimited(this.publisher);
  }
}

/** True when `message` carries fields this schema does not know (kept by protobuf-es, not by the hand encoders). */
export function hasUnknown(message: { $unknown?: unknown[] } | undefined): boolean {
  return message?.$unknown !== undefined && message.$unknown.length > 0;
}

function isNegative(timestamp: Timestamp | undefined): boolean {
  return timestamp !== undefined && (timestamp.seconds < 0n || timestamp.nanos < 0);
}

function timestampSize(timestamp: Timestamp | undefined): number {
  if (timestamp === undefined) return 0;
  const seconds = Number(timestamp.seconds);
  return (seconds === 0 ? 0 : 1 + varintSize(seconds)) + (timestamp.nanos === 0 ? 0 : 1 + varintSize(timestamp.nanos));
}

function writeTimestamp(out: Buffer, start: number, tag: number, timestamp: Timestamp, size: number): number {
  let at = start;
  out[at++] = tag;
  at = writeVarint(out, at, size);
  const seconds = Number(timestamp.seconds);
  if (seconds !== 0) {
    out[at++] = 0x08;
    at = writeVarint(out, at, seconds);
  }
  if (timestamp.nanos !== 0) {
    out[at++] = 0x10;
    at = writeVarint(out, at, timestamp.nanos);
  }
  return at;
}

function publisherSize(publisher: PublisherIdentity | undefined): number {
  if (publisher === undefined) return 0;
  let size = 0;
  if (publisher.pid !== 0) size += 1 + varintSize(publisher.pid);
  if (publisher.uid !== undefined) size += 1 + varintSize(publisher.uid);
  if (publisher.gid !== undefined) size += 1 + varintSize(publisher.gid);
  if (publisher.verified) size += 2;
  if (publisher.statedPid !== 0) size += 1 + varintSize(publisher.statedPid);
  if (publisher.statedPidMismatch) size += 2;
  return size;
}

function writePublisher(out: Buffer, start: number, publisher: PublisherIdentity, size: number): number {
  let at = start;
  out[at++] = 0x62;
  at = writeVarint(out, at, size);
  if (publisher.pid !== 0) {
    out[at++] = 0x08;
    at = writeVarint(out, at, publisher.pid);
  }
  if (publisher.uid !== undefined) {
    out[at++] = 0x10;
    at = writeVarint(out, at, publisher.uid);
  }
  if (publisher.gid !== undefined) {
    out[at++] = 0x18;
    at = writeVarint(out, at, publisher.gid);
  }
  if (publisher.verified) {
    out[at++] = 0x20;
    out[at++] = 1;
  }
  if (publisher.statedPid !== 0) {
    out[at++] = 0x28;
    at = writeVarint(out, at, publisher.statedPid);
  }
  if (publisher.statedPidMismatch) {
    out[at++] = 0x30;
    out[at++] = 1;
  }
  return at;
}

/** Size of a Timestamp message for `ms` (a non-negative integer), as timestampFromMs makes it. */
export function timestampMsSize(ms: number): number {
  const seconds = Math.floor(ms / 1000);
  const nanos = (ms - seconds * 1000) * 1_000_000;
  return (seconds === 0 ? 0 : 1 + varintSize(seconds)) + (nanos === 0 ? 0 : 1 + varintSize(nanos));
}

/** Writes field `tag` as the Timestamp for `ms` (size from timestampMsSize); answers the next offset. */
export function writeTimestampMs(out: Uint8Array, start: number, tag: number, ms: number, size: number): number {
  let at = start;
  out[at++] = tag;
  at = writeVarint(out, at, size);
  const seconds = Math.floor(ms / 1000);
  const nanos = (ms - seconds * 1000) * 1_000_000;
  if (seconds !== 0) {
    out[at++] = 0x08;
    at = writeVarint(out, at, seconds);
  }
  if (nanos !== 0) {
    out[at++] = 0x10;
    at = writeVarint(out, at, nanos);
  }
  return at;
}

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
export function writeUtf8(out: Buffer, start: number, text: string, size: number): number {
  if (size !== text.length || size > shortString) return start + out.write(text, start, "utf8");
  for (let index = 0; index < size; index++) out[start + index] = text.charCodeAt(index);
  return start + size;
}

/** Strings up to this long are sized and written by the loops above. */
const shortString = 64;

/** Bytes of a varint for a non-negative integer up to 2^53. */
export function varintSize(value: number): number {
  let size = 1;
  for (let rest = value; rest >= 0x80; rest = Math.floor(rest / 128)) size++;
  return size;
}

/** Writes a non-negative integer up to 2^53 as a varint; answers the next offset. */
export function writeVarint(out: Uint8Array, start: number, value: number): number {
  let at = start;
  let rest = value;
  while (rest >= 0x80) {
    out[at++] = (rest % 128) | 0x80;
    rest = Math.floor(rest / 128);
  }
  out[at++] = rest;
  return at;
}
