import { type CorrelationMetadata, CorrelationMetadataSchema } from "../../gen/corrbus/v1/correlation_pb.js";
import { messageEquality } from "./message-equality.js";
import { messageSnapshot } from "./message-snapshot.js";
import { isPerEventMetadataField } from "./metadata-fields.js";
import { RecencyMap } from "./recency-map.js";

/** Every field of CorrelationMetadata but the per-event ones, unknown fields included, from the descriptor. */
const sameSharedFields = messageEquality(CorrelationMetadataSchema, (field) => !isPerEventMetadataField(field.number));
/** A deep copy of those fields, to compare later messages with. */
const sharedSnapshot = messageSnapshot(CorrelationMetadataSchema, (field) => !isPerEventMetadataField(field.number));

/**
 * Correlation metadata seen lately, one entry per correlation id, compared by
 * its shared fields (all but the per-event sequence_number and final). A
 * collector repeats the same metadata event after event (a batch is mostly
 * one correlation), so the broker checks and indexes that metadata once, and
 * a client encodes it once, and the repeats are recognised by comparing
 * fields. Several collectors publishing at once interleave their
 * correlations, hence an entry per correlation rather than only the last one.
 * The comparison is compiled from the descriptor, so a field added to the
 * schema takes part in it. Entries keep a copy of the metadata, not the
 * message: a caller that changes its metadata object in place (a tag added, a
 * stage renamed) gets a miss, never a stale answer. At most `capacity`
 * entries, the oldest dropped first.
 */
export class SharedMetadataMemo<T> {
  private readonly entries = new RecencyMap<string, { shared: CorrelationMetadata; value: T; origin: object | undefined }>();

  constructor(
    /** Correlations remembered at once. */
    readonly capacity = 64,
  ) {}

  /** Correlations remembered now. */
  get size(): number {
    return this.entries.size;
  }

  /** What was remembered for metadata whose shared fields equal `meta`'s, if any. */
  get(meta: CorrelationMetadata): T | undefined {
    const entry = this.entries.get(meta.correlationId);
    if (entry === undefined) return undefined;
    const origin = decodedOriginOf(meta);
    if (origin !== undefined && entry.origin === origin) return entry.value;
    if (!sameSharedFields(entry.shared, meta)) return undefined;
    entry.origin = origin;
    return entry.value;
  }

  /** Remembers `value` for `meta`, replacing what its correlation had. */
  set(meta: CorrelationMetadata, value: T): void {
    if (!this.entries.has(meta.correlationId) && this.entries.size >= this.capacity) this.entries.takeOldest();
    const origin = decodedOriginOf(meta);
    // Marked metadata is never changed in place (markDecodedFrom's contract): no copy needed.
    this.entries.set(meta.correlationId, { shared: origin === undefined ? sharedSnapshot(meta) : meta, value, origin });
  }
}

const decodedOrigin = Symbol("corrbus.decodedOrigin");

/**
 * Marks metadata decoded from `origin` (an object standing for the bytes of
 * its shared fields): copies of it (`{ ...meta }`, as a decoder makes for a
 * repeat) carry the mark, and a memo that met the mark before knows them
 * equal without comparing. Only for messages nobody changes in place, as the
 * broker's decoded requests.
 */
export function markDecodedFrom(meta: CorrelationMetadata, origin: object): CorrelationMetadata {
  (meta as CorrelationMetadata & { [decodedOrigin]?: object })[decodedOrigin] = origin;
  return meta;
}

function decodedOriginOf(meta: CorrelationMetadata): object | undefined {
  return (meta as CorrelationMetadata & { [decodedOrigin]?: object })[decodedOrigin];
}
