import type { EventEnvelope } from "../../../gen/corrbus/v1/envelope_pb.js";
import type { BrokerLimits } from "./broker-limits.js";
import { InvalidInputError } from "./invalid-input-error.js";
import { validateTopic } from "../routing/topic-pattern.js";

/**
 * Checks everything a publisher sets on an envelope against the limits.
 * Throws InvalidInputError naming the field (relative to the envelope) and the
 * limit; an envelope that passes changes nothing by itself.
 */
export function validateEnvelope(envelope: EventEnvelope, limits: BrokerLimits, sharedMetadataChecked = false): void {
  validateTopic(envelope.topic, "topic");
  if (envelope.payload.length > limits.maxPayloadBytes) {
    throw new InvalidInputError("payload", `${envelope.payload.length} bytes exceeds the limit of ${limits.maxPayloadBytes}`);
  }
  checkName(envelope.contentType, "content_type", limits);
  checkTimestamp(envelope.timestamp, "timestamp");
  const meta = envelope.correlationMetadata;
  // Its shared fields equal metadata checked before (sequence_number and final need no check).
  if (meta === undefined || sharedMetadataChecked) return;
  const prefix = "correlation_metadata.";
  checkTimestamp(meta.startedAt, `${prefix}started_at`);
  checkUuid(meta.correlationId, `${prefix}correlation_id`);
  checkUuid(meta.rootCorrelationId, `${prefix}root_correlation_id`);
  if (meta.parentCorrelationId !== undefined) {
    checkUuid(meta.parentCorrelationId, `${prefix}parent_correlation_id`);
  }
  checkName(meta.workflowStage, `${prefix}workflow_stage`, limits);
  checkName(meta.sourceProcess, `${prefix}source_process`, limits);
  validateTags(meta.correlationTags, `${prefix}correlation_tags`, limits.maxTags, limits);
}

/**
 * The one tag key refused by name: protobuf-es 2.13 (the runtime that runs on
 * Node 20) sets an object's prototype for a map key "__proto__" instead of
 * keeping it, so such a tag would be lost without a word on some paths.
 */
export const reservedTagKey = "__proto__";
export const reservedTagKeyReason = `the tag key "${reservedTagKey}" is reserved (a map of the TypeScript protobuf runtime cannot keep it)`;

/** Checks a tag map: count, key and value lengths, no empty keys, not the reserved key. */
export function validateTags(tags: Record<string, string>, field: string, maxTags: number, limits: BrokerLimits): void {
  let count = 0;
  for (const key in tags) {
    count++;
    if (key.length === 0) throw new InvalidInputError(field, "a tag key must not be empty");
    if (key === reservedTagKey) throw new InvalidInputError(field, reservedTagKeyReason);
    checkUtf8(key, field, "a tag key");
    checkUtf8(tags[key], field, `the value of tag "${key.slice(0, 32)}"`);
    const keyBytes = Buffer.byteLength(key);
    if (keyBytes > limits.maxTagKeyBytes) {
      throw new InvalidInputError(field, `key "${key.slice(0, 32)}…" is ${keyBytes} bytes, exceeds the limit of ${limits.maxTagKeyBytes}`);
    }
    const valueBytes = Buffer.byteLength(tags[key]);
    if (valueBytes > limits.maxTagValueBytes) {
      throw new InvalidInputError(field, `value of "${key}" is ${valueBytes} bytes, exceeds the limit of ${limits.maxTagValueBytes}`);
    }
  }
  if (count > maxTags) {
    throw new InvalidInputError(field, `${count} tags exceeds the limit of ${maxTags}`);
  }
}

/** Canonical text: one spelling per id, so "ABC…" and "abc…" never become two correlations. Any version. */
const canonicalUuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Refuses anything but a UUID in canonical form. */
export function checkUuid(value: string, field: string): void {
  if (value.length === 0) throw new InvalidInputError(field, "must be set to a UUID");
  if (!canonicalUuid.test(value)) {
    throw new InvalidInputError(field, `"${value.slice(0, 64)}" is not a UUID in canonical form (8-4-4-4-12 lowercase hex digits)`);
  }
}

/** Refuses a name (stage, source, content type) over the length limit. */
export function checkName(value: string, field: string, limits: BrokerLimits): void {
  if (value.length === 0) return;
  checkUtf8(value, field);
  const bytes = Buffer.byteLength(value);
  if (bytes > limits.maxNameBytes) {
    throw new InvalidInputError(field, `${bytes} bytes exceeds the limit of ${limits.maxNameBytes}`);
  }
}

/** google.protobuf.Timestamp's range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z. */
const timestampSeconds = { min: -62_135_596_800n, max: 253_402_300_799n };

/**
 * Refuses a Timestamp outside its documented range (nanos 0..999 999 999,
 * years 1..9999). Binary protobuf carries any values; stored as they are,
 * they would make every JSON answer holding the event fail to encode.
 */
function checkTimestamp(value: { seconds: bigint; nanos: number } | undefined, field: string): void {
  if (value === undefined) return;
  if (value.nanos < 0 || value.nanos > 999_999_999) {
    throw new InvalidInputError(field, `nanos ${value.nanos} is outside 0..999999999`);
  }
  if (value.seconds < timestampSeconds.min || value.seconds > timestampSeconds.max) {
    throw new InvalidInputError(field, `seconds ${value.seconds} is outside 0001-01-01T00:00:00Z..9999-12-31T23:59:59Z`);
  }
}

/** An unpaired UTF-16 surrogate: what a JS string may hold and UTF-8 cannot encode. */
const loneSurrogate = /\p{Surrogate}/u;

/**
 * Refuses a string with a lone surrogate. Wire decoding never yields one, but
 * an in-process caller can pass one, and encoding replaces it with U+FFFD: the
 * stored event would differ from the one indexed, so eviction could not find
 * (and remove) the index entry, which would then stay forever.
 */
function checkUtf8(value: string, field: string, what?: string): void {
  if (loneSurrogate.test(value)) {
    const subject = what === undefined ? "" : `${what} `;
    throw new InvalidInputError(field, `${subject}is not valid Unicode (a lone UTF-16 surrogate cannot be encoded as UTF-8)`);
  }
}
