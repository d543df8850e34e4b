import { toBinary } from "@bufbuild/protobuf";
import { type CorrelationMetadata, CorrelationMetadataSchema } from "../../gen/corrbus/v1/correlation_pb.js";
import { type EventEnvelope, EventEnvelopeSchema } from "../../gen/corrbus/v1/envelope_pb.js";
import { type PublishRequest, PublishRequestSchema, type PublishStreamRequest, PublishStreamRequestSchema } from "../../gen/corrbus/v1/service_pb.js";
import { copyBytes } from "./byte-copy.js";
import { type MessageEncoder, messageEncoder } from "./message-encoder.js";
import { finalField, metadataField, sequenceNumberField } from "./metadata-fields.js";
import { SharedMetadataMemo } from "./shared-metadata-memo.js";
import { varintSize, writeVarint } from "./varint.js";
import { lengthDelimitedWireType, tagOf } from "./wire-reader.js";

/**
 * The publish requests as a collector writes them, event after event: the
 * same canonical bytes as toBinary (a property test over the descriptors
 * compares them), sized first and written once, with each correlation's
 * shared metadata encoded once and only sequence_number and final written
 * per event. Every field comes from the descriptors: one added to the schema
 * is written the day it is generated.
 */
export class PublishRequestEncoder {
  /** Shared metadata of the correlations published lately, as the segments between the per-event fields. */
  private readonly shared = new SharedMetadataMemo<Uint8Array[]>();

  /** PublishRequest { envelope = 1 }. */
  encodePublish(request: PublishRequest): Uint8Array {
    if (request.envelope === undefined || hasUnknown(request)) return toBinary(PublishRequestSchema, request);
    return this.encodeEnvelopes(publishEnvelopeTag, [request.envelope]) ?? toBinary(PublishRequestSchema, request);
  }

  /** PublishStreamRequest { repeated envelopes = 1 }. */
  encodePublishStream(request: PublishStreamRequest): Uint8Array {
    if (hasUnknown(request)) return toBinary(PublishStreamRequestSchema, request);
    return this.encodeEnvelopes(batchEnvelopeTag, request.envelopes) ?? toBinary(PublishStreamRequestSchema, request);
  }

  private encodeEnvelopes(tag: number, envelopes: readonly EventEnvelope[]): Uint8Array | undefined {
    const plans: EnvelopePlan[] = [];
    let total = 0;
    try {
      for (const envelope of envelopes) {
        const plan = this.plan(envelope);
        plans.push(plan);
        total += varintSize(tag) + varintSize(plan.size) + plan.size;
      }
    } catch {
      // A value the encoders refuse: toBinary says which field.
      return undefined;
    }
    const out = Buffer.allocUnsafe(total);
    let at = 0;
    for (const plan of plans) {
      at = writeVarint(out, at, tag);
      at = writeVarint(out, at, plan.size);
      at = this.write(plan, out, at);
    }
    return out;
  }

  private plan(envelope: EventEnvelope): EnvelopePlan {
    const low = beforeMetadata.size(envelope);
    const high = afterMetadata.size(envelope);
    const meta = envelope.correlationMetadata;
    if (meta === undefined) return { envelope, segments: undefined, metaSize: 0, size: low + high };
    let segments = this.shared.get(meta);
    if (segments === undefined) {
      segments = sharedSegments.map((segment) => segment.encode(meta));
      this.shared.set(meta, segments);
    }
    let metaSize = sequenceOnly.size(meta) + finalOnly.size(meta);
    for (const segment of segments) metaSize += segment.length;
    return { envelope, segments, metaSize, size: low + varintSize(metadataTag) + varintSize(metaSize) + metaSize + high };
  }

  /** The envelope's fields in field-number order, as toBinary writes them. */
  private write({ envelope, segments, metaSize }: EnvelopePlan, out: Buffer, start: number): number {
    let at = beforeMetadata.write(envelope, out, start);
    const meta = envelope.correlationMetadata as CorrelationMetadata;
    if (segments !== undefined) {
      at = writeVarint(out, at, metadataTag);
      at = writeVarint(out, at, metaSize);
      at = copy(segments[0], out, at);
      at = sequenceOnly.write(meta, out, at);
      at = copy(segments[1], out, at);
      at = finalOnly.write(meta, out, at);
      at = copy(segments[2], out, at);
    }
    return afterMetadata.write(envelope, out, at);
  }
}

interface EnvelopePlan {
  envelope: EventEnvelope;
  /** The shared metadata's segments (before sequence_number, between it and final, after final); undefined without metadata. */
  segments: Uint8Array[] | undefined;
  metaSize: number;
  /** The envelope's encoded size. */
  size: number;
}

const publishEnvelopeTag = tagOf(PublishRequestSchema.field.envelope.number, lengthDelimitedWireType);
const batchEnvelopeTag = tagOf(PublishStreamRequestSchema.field.envelopes.number, lengthDelimitedWireType);
const metadataTag = tagOf(metadataField, lengthDelimitedWireType);

const beforeMetadata = messageEncoder(EventEnvelopeSchema, (field) => field.number < metadataField, false);
const afterMetadata = messageEncoder(EventEnvelopeSchema, (field) => field.number > metadataField, true);
const sequenceOnly = messageEncoder(CorrelationMetadataSchema, (field) => field.number === sequenceNumberField);
const finalOnly = messageEncoder(CorrelationMetadataSchema, (field) => field.number === finalField);
const sharedSegments: MessageEncoder<typeof CorrelationMetadataSchema>[] = [
  messageEncoder(CorrelationMetadataSchema, (field) => field.number < sequenceNumberField, false),
  messageEncoder(CorrelationMetadataSchema, (field) => field.number > sequenceNumberField && field.number < finalField, false),
  messageEncoder(CorrelationMetadataSchema, (field) => field.number > finalField, true),
];

function copy(bytes: Uint8Array, out: Buffer, at: number): number {
  return copyBytes(bytes, 0, bytes.length, out, at);
}

function hasUnknown(message: { $unknown?: unknown[] }): boolean {
  return message.$unknown !== undefined && message.$unknown.length > 0;
}

/** One per process: a publisher repeats its correlations' metadata event after event (bounded memo). */
const processEncoder = new PublishRequestEncoder();

/** PublishRequest { envelope = 1 }, through the process's encoder. */
export function encodePublishRequest(request: PublishRequest): Uint8Array {
  return processEncoder.encodePublish(request);
}

/** PublishStreamRequest { repeated envelopes = 1 }, through the process's encoder. */
export function encodePublishStreamRequest(request: PublishStreamRequest): Uint8Array {
  return processEncoder.encodePublishStream(request);
}
