import type { Timestamp } from "@bufbuild/protobuf/wkt";
import type { CorrelationMetadata } from "../../gen/corrbus/v1/correlation_pb.js";
import { utf8Size, varintSize, writeUtf8, writeVarint } from "./envelope-encoding.js";
import { SharedMetadataMemo } from "./shared-metadata-memo.js";

/**
 * A hand-written encoder for CorrelationMetadata, the message every
 * correlated event carries: toBinary grows its writer step by step and cost
 * more than the rest of the envelope's encoding (profile of the publish
 * path). Same canonical bytes as toBinary (field order, proto3 presence, map
 * entries with key and value always written, in the map's key order), which
 * tests compare. `perEvent` false leaves out sequence_number and final (the
 * part history shares between events). Metadata carrying unknown fields or a
 * negative timestamp answers undefined: the caller uses toBinary.
 */
export function encodeMetadata(meta: CorrelationMetadata, perEvent: boolean): Uint8Array | undefined {
  if ((meta.$unknown !== undefined && meta.$unknown.length > 0) || !plainTimestamp(meta.startedAt)) return undefined;
  const id = utf8Size(meta.correlationId);
  const parent = meta.parentCorrelationId === undefined ? -1 : utf8Size(meta.parentCorrelationId);
  const root = utf8Size(meta.rootCorrelationId);
  const stage = utf8Size(meta.workflowStage);
  const source = utf8Size(meta.sourceProcess);
  const sequence = perEvent ? Number(meta.sequenceNumber) : 0;
  if (!Number.isSafeInteger(sequence)) return undefined;
  const keys = Object.keys(meta.correlationTags);
  const entrySizes = keys.map((key) => {
    const keyBytes = utf8Size(key);
    const valueBytes = utf8Size(meta.correlationTags[key]);
    return [keyBytes, valueBytes, 2 + varintSize(keyBytes) + keyBytes + varintSize(valueBytes) + valueBytes];
  });
  const started = timestampSize(meta.startedAt);
  const delimited = (size: number) => 1 + varintSize(size) + size;
  let total = 0;
  if (id > 0) total += delimited(id);
  if (parent >= 0) total += delimited(parent);
  if (root > 0) total += delimited(root);
  if (sequence > 0) total += 1 + varintSize(sequence);
  if (stage > 0) total += delimited(stage);
  if (source > 0) total += delimited(source);
  for (const [, , size] of entrySizes) total += delimited(size);
  if (meta.startedAt !== undefined) total += delimited(started);
  if (perEvent && meta.final) total += 2;

  const out = Buffer.allocUnsafe(total);
  let at = 0;
  const string = (tag: number, value: string, size: number) => {
    out[at++] = tag;
    at = writeVarint(out, at, size);
    at = writeUtf8(out, at, value, size);
  };
  if (id > 0) string(0x0a, meta.correlationId, id);
  if (parent >= 0) string(0x12, meta.parentCorrelationId as string, parent);
  if (root > 0) string(0x1a, meta.rootCorrelationId, root);
  if (sequence > 0) {
    out[at++] = 0x20;
    at = writeVarint(out, at, sequence);
  }
  if (stage > 0) string(0x2a, meta.workflowStage, stage);
  if (source > 0) string(0x32, meta.sourceProcess, source);
  for (let index = 0; index < keys.length; index++) {
    const [keyBytes, valueBytes, size] = entrySizes[index];
    out[at++] = 0x3a;
    at = writeVarint(out, at, size);
    string(0x0a, keys[index], keyBytes);
    string(0x12, meta.correlationTags[keys[index]], valueBytes);
  }
  if (meta.startedAt !== undefined) {
    out[at++] = 0x42;
    at = writeVarint(out, at, started);
    const seconds = Number(meta.startedAt.seconds);
    if (seconds !== 0) {
      out[at++] = 0x08;
      at = writeVarint(out, at, seconds);
    }
    if (meta.startedAt.nanos !== 0) {
      out[at++] = 0x10;
      at = writeVarint(out, at, meta.startedAt.nanos);
    }
  }
  if (perEvent && meta.final) {
    out[at++] = 0x48;
    out[at++] = 1;
  }
  return out;
}

/**
 * Encodes the metadata of event after event, as encodeMetadata(meta, true)
 * does: a publisher repeats one correlation's metadata with only
 * sequence_number and final changing, so the shared fields of the last
 * metadata stay encoded (those before sequence_number, field 4, and those
 * after) and a repeat writes its two per-event fields between them.
 */
export class RepeatingMetadataEncoder {
  private readonly shared = new SharedMetadataMemo<{ head: Uint8Array; tail: Uint8Array }>();

  encode(meta: CorrelationMetadata): Uint8Array | undefined {
    const prepared = this.prepare(meta);
    if (prepared === undefined) return undefined;
    const out = Buffer.allocUnsafe(prepared.size);
    writePreparedMetadata(out, 0, prepared);
    return out;
  }

  /** What `meta` encodes to, as parts and a size, for writing into a larger buffer (undefined where encode answers undefined). */
  prepare(meta: CorrelationMetadata): PreparedMetadata | undefined {
    const sequence = Number(meta.sequenceNumber);
    if (!Number.isSafeInteger(sequence)) return undefined;
    let parts = this.shared.get(meta);
    if (parts === undefined) {
      const encoded = encodeMetadata(meta, false);
      if (encoded === undefined) return undefined;
      parts = splitBeforeSequence(encoded);
      this.shared.set(meta, parts);
    }
    const { head, tail } = parts;
    const size = head.length + (sequence > 0 ? 1 + varintSize(sequence) : 0) + tail.length + (meta.final ? 2 : 0);
    return { head, tail, sequence, final: meta.final, size };
  }
}

/** One event's metadata, ready to write: the shared parts around its per-event fields. */
export interface PreparedMetadata {
  head: Uint8Array;
  tail: Uint8Array;
  sequence: number;
  final: boolean;
  /** Bytes written. */
  size: number;
}

/** Writes prepared metadata into `out` at `start`; answers where it ended. */
export function writePreparedMetadata(out: Buffer, start: number, { head, tail, sequence, final }: PreparedMetadata): number {
  out.set(head, start);
  let at = start + head.length;
  if (sequence > 0) {
    out[at++] = 0x20;
    at = writeVarint(out, at, sequence);
  }
  out.set(tail, at);
  at += tail.length;
  if (final) {
    out[at++] = 0x48;
    out[at++] = 1;
  }
  return at;
}

/** Fields 1-3 (single-byte tags, length-delimited) and the rest of an encoding from encodeMetadata. */
function splitBeforeSequence(encoded: Uint8Array): { head: Uint8Array; tail: Uint8Array } {
  let at = 0;
  while (at < encoded.length && encoded[at] >>> 3 < 4) {
    at++;
    let length = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = encoded[at++];
      length += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) break;
    }
    at += length;
  }
  return { head: encoded.subarray(0, at), tail: encoded.subarray(at) };
}

function plainTimestamp(timestamp: Timestamp | undefined): boolean {
  if (timestamp === undefined) return true;
  if (timestamp.$unknown !== undefined && timestamp.$unknown.length > 0) return false;
  return timestamp.seconds >= 0n && timestamp.nanos >= 0 && Number.isSafeInteger(Number(timestamp.seconds));
}

function timestampSize(timestamp: Timestamp | undefined): number {
  if (timestamp === undefined) return 0;
  const seconds = Number(timestamp.seconds);
  return (seconds === 0 ? 0 : 1 + varintSize(seconds)) + (timestamp.nanos === 0 ? 0 : 1 + varintSize(timestamp.nanos));
}
