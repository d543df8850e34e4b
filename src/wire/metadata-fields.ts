import { CorrelationMetadataSchema } from "../../gen/corrbus/v1/correlation_pb.js";
import { EventEnvelopeSchema } from "../../gen/corrbus/v1/envelope_pb.js";

/**
 * The field numbers the wire layer treats specially, read from the generated
 * descriptors (never copied by hand). Every other field is passed through as
 * the publisher wrote it.
 */

/** EventEnvelope.correlation_metadata: stored split into a shared part and a per-event part. */
export const metadataField = EventEnvelopeSchema.field.correlationMetadata.number;

/** EventEnvelope.payload: left out of answers that ask to omit payloads. */
export const payloadField = EventEnvelopeSchema.field.payload.number;

/** EventEnvelope.topic: peeked at without decoding (topic filters over stored events). */
export const topicField = EventEnvelopeSchema.field.topic.number;

/** The broker's stamps on an EventEnvelope: what a publisher sends there is dropped and overwritten. */
export const stampFields: ReadonlySet<number> = new Set([
  EventEnvelopeSchema.field.eventId.number,
  EventEnvelopeSchema.field.receivedAt.number,
  EventEnvelopeSchema.field.publisher.number,
  EventEnvelopeSchema.field.hostId.number,
  EventEnvelopeSchema.field.originEventId.number,
  EventEnvelopeSchema.field.originReceivedAt.number,
]);

/**
 * host_id, origin_event_id and origin_received_at: where an event comes from
 * in a fleet. Stamped by the broker (a host's own id, or what a central broker
 * ingested) and kept in each stored body, since a central broker's events come
 * from many hosts.
 */
export const hostStampFields: ReadonlySet<number> = new Set([
  EventEnvelopeSchema.field.hostId.number,
  EventEnvelopeSchema.field.originEventId.number,
  EventEnvelopeSchema.field.originReceivedAt.number,
]);

/** event_id and received_at: kept in history's columns, not in each stored body. */
export const columnStampFields: ReadonlySet<number> = new Set([EventEnvelopeSchema.field.eventId.number, EventEnvelopeSchema.field.receivedAt.number]);

/** CorrelationMetadata.sequence_number and .final: what changes from one event of a correlation to the next. */
export const sequenceNumberField = CorrelationMetadataSchema.field.sequenceNumber.number;
export const finalField = CorrelationMetadataSchema.field.final.number;

export function isPerEventMetadataField(number: number): boolean {
  return number === sequenceNumberField || number === finalField;
}
