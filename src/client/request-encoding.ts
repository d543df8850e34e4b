import { toBinary } from "@bufbuild/protobuf";
import type { EventEnvelope } from "../../gen/corrbus/v1/envelope_pb.js";
import { type PublishRequest, PublishRequestSchema, type PublishStreamRequest, PublishStreamRequestSchema } from "../../gen/corrbus/v1/service_pb.js";
import { type FieldSizes, hasUnknown, sizeOwnFields, varintSize, writeOwnFields, writeVarint } from "../core/envelope-encoding.js";
import { type PreparedMetadata, RepeatingMetadataEncoder, writePreparedMetadata } from "../core/metadata-encoding.js";

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
  const plan = request.envelope === undefined || hasUnknown(request) ? undefined : planEnvelope(request.envelope);
  if (plan === undefined) return toBinary(PublishRequestSchema, request);
  return writeEnvelopes([plan]);
}

/** PublishStreamRequest { repeated envelopes = 1 }. */
export function encodePublishStreamRequest(request: PublishStreamRequest): Uint8Array {
  if (hasUnknown(request)) return toBinary(PublishStreamRequestSchema, request);
  const plans: EnvelopePlan[] = [];
  for (const envelope of request.envelopes) {
    const plan = planEnvelope(envelope);
    if (plan === undefined) return toBinary(PublishStreamRequestSchema, request);
    plans.push(plan);
  }
  return writeEnvelopes(plans);
}

/** An envelope as a publisher sends it, sized: its own fields, then its metadata (field 6). */
interface EnvelopePlan {
  envelope: EventEnvelope;
  own: FieldSizes;
  meta: PreparedMetadata | undefined;
  /** The envelope's encoded size. */
  size: number;
}

function planEnvelope(envelope: EventEnvelope): EnvelopePlan | undefined {
  if (envelope.eventId !== 0n || envelope.receivedAt !== undefined || envelope.publisher !== undefined) return undefined;
  const own = sizeOwnFields(envelope, false);
  if (own === undefined) return undefined;
  if (envelope.correlationMetadata === undefined) return { envelope, own, meta: undefined, size: own.total };
  const meta = metadataEncoder.prepare(envelope.correlationMetadata);
  if (meta === undefined) return undefined;
  return { envelope, own, meta, size: own.total + 1 + varintSize(meta.size) + meta.size };
}

/** Each planned envelope as field 1, length-delimited, written once into one buffer. */
function writeEnvelopes(plans: readonly EnvelopePlan[]): Uint8Array {
  let size = 0;
  for (const plan of plans) size += 1 + varintSize(plan.size) + plan.size;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const { envelope, own, meta, size: envelopeSize } of plans) {
    out[at++] = 0x0a;
    at = writeVarint(out, at, envelopeSize);
    at = writeOwnFields(out, at, envelope, own, false);
    if (meta !== undefined) {
      out[at++] = 0x32;
      at = writeVarint(out, at, meta.size);
      at = writePreparedMetadata(out, at, meta);
    }
  }
  return out;
}

