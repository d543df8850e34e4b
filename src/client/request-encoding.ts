import { toBinary } from "@bufbuild/protobuf";
import type { EventEnvelope } from "../../gen/corrbus/v1/envelope_pb.js";
import { type PublishRequest, PublishRequestSchema, type PublishStreamRequest, PublishStreamRequestSchema } from "../../gen/corrbus/v1/service_pb.js";
import { encodeOwnFields, varintSize, writeVarint } from "../core/envelope-encoding.js";
import { RepeatingMetadataEncoder } from "../core/metadata-encoding.js";

/**
 * Hand-written encoders for the two publish requests (the same bytes as
 * toBinary, which tests compare): a collector encodes every event it sends,
 * and toBinary was ~10 µs of a ~150 µs Publish and most of a streaming
 * collector's CPU. Messages these encoders do not cover (unknown fields,
 * broker stamps set) go through toBinary, which keeps everything.
 */

/** One per process: a publisher repeats its correlation's metadata event after event (one entry, nothing grows). */
const metadataEncoder = new RepeatingMetadataEncoder();

/** PublishRequest { envelope = 1 }. */
export function encodePublishRequest(request: PublishRequest): Uint8Array {
  const envelope = request.envelope === undefined || hasUnknown(request) ? undefined : encodeEnvelope(request.envelope);
  if (envelope === undefined) return toBinary(PublishRequestSchema, request);
  return delimitedFields([envelope]);
}

/** PublishStreamRequest { repeated envelopes = 1 }. */
export function encodePublishStreamRequest(request: PublishStreamRequest): Uint8Array {
  if (hasUnknown(request)) return toBinary(PublishStreamRequestSchema, request);
  const envelopes: Uint8Array[] = [];
  for (const envelope of request.envelopes) {
    const encoded = encodeEnvelope(envelope);
    if (encoded === undefined) return toBinary(PublishStreamRequestSchema, request);
    envelopes.push(encoded);
  }
  return delimitedFields(envelopes);
}

/** An envelope as a publisher sends it: its own fields, then its metadata (field 6). */
function encodeEnvelope(envelope: EventEnvelope): Uint8Array | undefined {
  if (envelope.eventId !== 0n || envelope.receivedAt !== undefined || envelope.publisher !== undefined) return undefined;
  const own = encodeOwnFields(envelope, false);
  if (own === undefined || envelope.correlationMetadata === undefined) return own;
  const meta = metadataEncoder.encode(envelope.correlationMetadata);
  if (meta === undefined) return undefined;
  const out = Buffer.allocUnsafe(own.length + 1 + varintSize(meta.length) + meta.length);
  out.set(own);
  out[own.length] = 0x32;
  out.set(meta, writeVarint(out, own.length + 1, meta.length));
  return out;
}

/** Each of `values` as field 1, length-delimited, in one buffer. */
function delimitedFields(values: readonly Uint8Array[]): Uint8Array {
  let size = 0;
  for (const value of values) size += 1 + varintSize(value.length) + value.length;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const value of values) {
    out[at++] = 0x0a;
    at = writeVarint(out, at, value.length);
    out.set(value, at);
    at += value.length;
  }
  return out;
}

function hasUnknown(message: { $unknown?: unknown[] }): boolean {
  return message.$unknown !== undefined && message.$unknown.length > 0;
}
