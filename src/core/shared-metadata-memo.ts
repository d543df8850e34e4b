import type { CorrelationMetadata } from "../../gen/corrbus/v1/correlation_pb.js";
import { hasUnknown } from "./envelope-encoding.js";

/**
 * Correlation metadata seen lately, one entry per correlation id, compared by
 * its shared fields (all but the per-event sequence_number and final). A
 * collector repeats the same metadata event after event (a batch is mostly
 * one correlation), so the broker checks, keys and looks up that metadata
 * once, and a client encodes it once, and the repeats are recognised with a
 * few string comparisons. Several collectors publishing at once interleave
 * their correlations, hence an entry per correlation rather than only the
 * last one (probe, two publishers alternating: every lookup missed). Each
 * pass over an event's metadata costs far more inside the broker than in a
 * loop of its own (caches are cold between calls: probe, Publish with
 * metadata, broker CPU 10-20 µs more per call than without, against ~5 µs in
 * a tight loop).
 * Entries keep a copy of the compared values, not the message: a caller that
 * changes its metadata object in place (a tag added, a stage renamed) gets a
 * miss, never a stale answer. At most `capacity` entries, the oldest dropped
 * first.
 */
export class SharedMetadataMemo<T> {
  private readonly entries = new Map<string, { shared: SharedFields; value: T }>();

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
    return entry !== undefined && matches(entry.shared, meta) ? entry.value : undefined;
  }

  /** Remembers `value` for `meta` (replacing what its correlation had; metadata with unknown fields is not remembered). */
  set(meta: CorrelationMetadata, value: T): void {
    this.entries.delete(meta.correlationId);
    // Unknown fields are not part of the snapshot: such metadata is never remembered (matches() refuses it too).
    if (hasUnknown(meta) || (meta.startedAt !== undefined && hasUnknown(meta.startedAt))) return;
    if (this.entries.size >= this.capacity) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(meta.correlationId, { shared: snapshot(meta), value });
  }
}

/** True when a and b agree on every field but sequence_number and final (false when either has unknown fields). */
export function sameSharedFields(a: CorrelationMetadata, b: CorrelationMetadata): boolean {
  return !hasUnknown(a) && (a.startedAt === undefined || !hasUnknown(a.startedAt)) && matches(snapshot(a), b);
}

/** The shared fields of one metadata, copied (strings are immutable; the tags and the timestamp are not). */
interface SharedFields {
  correlationId: string;
  parentCorrelationId: string | undefined;
  rootCorrelationId: string;
  workflowStage: string;
  sourceProcess: string;
  /** Keys and values in the map's order, alternating: the order is part of the encoding (and of the template key). */
  tags: string[];
  started: { seconds: bigint; nanos: number } | undefined;
}

function snapshot(meta: CorrelationMetadata): SharedFields {
  const tags: string[] = [];
  for (const key in meta.correlationTags) tags.push(key, meta.correlationTags[key]);
  const started = meta.startedAt;
  return {
    correlationId: meta.correlationId,
    parentCorrelationId: meta.parentCorrelationId,
    rootCorrelationId: meta.rootCorrelationId,
    workflowStage: meta.workflowStage,
    sourceProcess: meta.sourceProcess,
    tags,
    started: started === undefined ? undefined : { seconds: started.seconds, nanos: started.nanos },
  };
}

function matches(last: SharedFields, meta: CorrelationMetadata): boolean {
  if (
    hasUnknown(meta) ||
    last.correlationId !== meta.correlationId ||
    last.parentCorrelationId !== meta.parentCorrelationId ||
    last.rootCorrelationId !== meta.rootCorrelationId ||
    last.workflowStage !== meta.workflowStage ||
    last.sourceProcess !== meta.sourceProcess
  ) {
    return false;
  }
  const started = meta.startedAt;
  if (last.started === undefined || started === undefined) {
    if (last.started !== started) return false;
  } else if (last.started.seconds !== started.seconds || last.started.nanos !== started.nanos || hasUnknown(started)) {
    return false;
  }
  const tags = meta.correlationTags;
  let index = 0;
  for (const key in tags) {
    if (last.tags[index] !== key || last.tags[index + 1] !== tags[key]) return false;
    index += 2;
  }
  return index === last.tags.length;
}

