import type { EventEnvelope } from "../../gen/corrbus/v1/envelope_pb.js";
import { EventHistory } from "./event-history.js";
import { PostingList } from "./posting-list.js";
import { decodeStoredEnvelope } from "./stored-envelope.js";

/**
 * IndexedHistory is the bounded event history plus its indexes: tag
 * key=value → ids, correlation → ids, root → ids. Every index entry is removed
 * when its event is evicted, so the indexes never hold an id history lacks and
 * never grow past it.
 */
export class IndexedHistory {
  readonly events: EventHistory;
  private readonly byTag = new Map<string, PostingList>();
  private readonly byCorrelation = new Map<string, PostingList>();
  private readonly byRoot = new Map<string, PostingList>();

  constructor(maxEvents: number, maxBytes: number) {
    this.events = new EventHistory(maxEvents, maxBytes, (id, bytes) => this.unindex(id, bytes));
  }

  /** Distinct keys in each index (for stats and tests). */
  get indexSizes(): { tags: number; correlations: number; roots: number } {
    return { tags: this.byTag.size, correlations: this.byCorrelation.size, roots: this.byRoot.size };
  }

  /** Stores a stamped event (its encoded form) and indexes it. */
  append(event: EventEnvelope, bytes: Uint8Array, receivedAtMs: number): void {
    const id = Number(event.eventId);
    this.events.append(id, receivedAtMs, bytes);
    const meta = event.correlationMetadata;
    if (meta === undefined) return;
    for (const key in meta.correlationTags) {
      listFor(this.byTag, tagKey(key, meta.correlationTags[key])).push(id);
    }
    listFor(this.byCorrelation, meta.correlationId).push(id);
    listFor(this.byRoot, meta.rootCorrelationId).push(id);
  }

  /** The posting list of one tag pair, if any event holds it. */
  tagList(key: string, value: string): PostingList | undefined {
    return this.byTag.get(tagKey(key, value));
  }

  /** Ids of a correlation's stored events, ascending. */
  correlationList(correlationId: string): PostingList | undefined {
    return this.byCorrelation.get(correlationId);
  }

  /** Ids of a workflow's stored events, ascending. */
  rootList(rootId: string): PostingList | undefined {
    return this.byRoot.get(rootId);
  }

  /** Decodes stored event `id`, or undefined when it is not held. */
  get(id: number): EventEnvelope | undefined {
    const bytes = this.events.getBytes(id);
    return bytes === undefined ? undefined : decodeStoredEnvelope(bytes);
  }

  private unindex(id: number, bytes: Uint8Array): void {
    const meta = decodeStoredEnvelope(bytes).correlationMetadata;
    if (meta === undefined) return;
    for (const key in meta.correlationTags) {
      shiftFrom(this.byTag, tagKey(key, meta.correlationTags[key]), id);
    }
    shiftFrom(this.byCorrelation, meta.correlationId, id);
    shiftFrom(this.byRoot, meta.rootCorrelationId, id);
  }
}

/** Length-prefixed so no key/value split is ambiguous (keys and values may hold any character, NUL included). */
function tagKey(key: string, value: string): string {
  return `${key.length}:${key}=${value}`;
}

function listFor(index: Map<string, PostingList>, key: string): PostingList {
  let list = index.get(key);
  if (list === undefined) {
    list = new PostingList();
    index.set(key, list);
  }
  return list;
}

function shiftFrom(index: Map<string, PostingList>, key: string, id: number): void {
  const list = index.get(key);
  if (list === undefined) return;
  list.shiftIf(id);
  if (list.size === 0) index.delete(key);
}
