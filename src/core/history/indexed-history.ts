import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { CorrelationMetadata } from "../../../gen/corrbus/v1/correlation_pb.js";
import type { EventEnvelope } from "../../../gen/corrbus/v1/envelope_pb.js";
import { EventHistory } from "./event-history.js";
import { MetadataTemplates } from "./metadata-templates.js";
import { PostingIndex } from "./posting-index.js";
import type { IdList, PostingList } from "./posting-list.js";
import { retainedSize, stringSize } from "../retained-size.js";
import { SharedMetadataMemo } from "../../wire/shared-metadata-memo.js";
import {
  type KnownTemplate,
  type SplitEnvelope,
  decodeStoredEnvelope,
  joinEnvelope,
  peekHostId,
  splitForStorage,
  storedEnvelopeBytes,
  storedEnvelopeSize,
  writeStoredEnvelope,
} from "../../wire/stored-envelope.js";

/**
 * IndexedHistory is the bounded event history plus its indexes: tag
 * key=value → ids, correlation → ids, root → ids. Every index entry is removed
 * when its event is evicted, so the indexes never hold an id history lacks and
 * never grow past it. Events are stored split (see splitForStorage): their own
 * bytes in history, their correlation metadata once per distinct value.
 *
 * `retainedBytes` estimates all of it (events, columns, index entries and
 * their keys, templates); `evictForMemory` evicts the oldest events until it
 * fits a budget, for the broker's memory bound. Keys that occur once (pids,
 * hashes, paths: high-cardinality tags) cost an entry and their string, no list.
 *
 * Events stamped with another host's id (a central broker's ingest) are also
 * indexed by host, so FindByTag's host filter is one more list to intersect;
 * the broker's own events are not (every one of them would be).
 */
export class IndexedHistory {
  readonly events: EventHistory;
  private readonly templates = new MetadataTemplates();
  /** The posting lists of the last metadata indexed (see postingsFor). */
  private readonly lastPostings = new SharedMetadataMemo<Postings>();
  /** The template of the last event split: a repeat shares its bytes and key (one entry: no growth). */
  private recentTemplate: KnownTemplate | undefined;
  /** Tag key → its values' postings: a key's string is held once, however many values it has. */
  private readonly byTag = new Map<string, PostingIndex>();
  private tagPairs = 0;
  /** Estimated bytes every index retains (the PostingIndexes add theirs here). */
  private readonly indexRetained = { bytes: 0 };
  private readonly byCorrelation = new PostingIndex(this.indexRetained);
  private readonly byRoot = new PostingIndex(this.indexRetained);
  private readonly byHost = new PostingIndex(this.indexRetained);
  /**
   * Root → correlation → stored events: a timeline finds its correlations
   * without decoding events. A bare number stands for the root's own
   * correlation alone (the usual case: most workflows are one correlation).
   */
  private readonly rootCorrelations = new Map<string, number | Map<string, number>>();
  private rootCorrelationBytes = 0;
  private memoryEvictedCount = 0;

  constructor(
    maxEvents: number,
    maxBytes: number,
    /** The broker's own host id: its events are not indexed by host. */
    private readonly localHostId = "",
  ) {
    this.events = new EventHistory(maxEvents, maxBytes, (id, bytes, template) => this.unindex(id, bytes, template));
  }

  /** Distinct keys in each index and distinct metadata templates (for stats and tests). */
  get indexSizes(): { tags: number; correlations: number; roots: number; hosts: number; templates: number } {
    return {
      tags: this.tagPairs,
      correlations: this.byCorrelation.size,
      roots: this.byRoot.size,
      hosts: this.byHost.size,
      templates: this.templates.size,
    };
  }

  /** Bytes really held: events' own bytes plus shared metadata (the byte bound counts each event whole). */
  get heldBytes(): number {
    return this.events.heldBytes + this.templates.bytes;
  }

  /** Estimated bytes retained by history, its indexes and templates: what the memory bound counts. */
  get retainedBytes(): number {
    return this.events.retainedBytes + this.templates.retainedBytes + this.indexRetained.bytes + this.rootCorrelationBytes;
  }

  /** Events evicted to keep within a memory budget (evictForMemory) since creation. */
  get memoryEvictions(): number {
    return this.memoryEvictedCount;
  }

  /**
   * Evicts the oldest events while more than `budgetBytes` is retained, the
   * newest one always kept; answers how many went.
   */
  evictForMemory(budgetBytes: number): number {
    let evicted = 0;
    while (this.events.size > 1 && this.retainedBytes > budgetBytes) {
      this.events.evictOldest();
      evicted++;
    }
    this.memoryEvictedCount += evicted;
    return evicted;
  }

  /**
   * Splits a stamped event for storage (once: the journal and history share
   * it). `fromJournal`: its received bytes are the journal's, stamps included.
   */
  split(event: EventEnvelope, fromJournal = false): SplitEnvelope {
    const split = splitForStorage(event, this.recentTemplate, fromJournal);
    // A batch is split before any of it is stored: a repeat of the last metadata shares its template's bytes.
    if (split.template !== undefined && split.template !== this.recentTemplate?.bytes) {
      this.recentTemplate = { key: split.templateKey as string, bytes: this.templates.peek(split.templateKey as string) ?? split.template };
    }
    return split;
  }

  /** The whole encoding of a split event, shared metadata included: what the journal stores. */
  encodeWhole(split: SplitEnvelope): Uint8Array {
    return joinEnvelope(split);
  }

  /** Stores a stamped event (split already, or split here) and indexes it. */
  append(event: EventEnvelope, receivedAtMs: number, split: SplitEnvelope = this.split(event)): void {
    const id = Number(event.eventId);
    const { body, templateKey, encodedSize } = split;
    const templateId = templateKey === undefined ? 0 : this.templates.acquire(templateKey);
    this.events.append(id, receivedAtMs, body, templateId, encodedSize);
    if (event.hostId !== "" && event.hostId !== this.localHostId) this.byHost.add(event.hostId, id);
    const meta = event.correlationMetadata;
    if (meta === undefined) return;
    const remembered = this.lastPostings.get(meta);
    // A remembered list is still the indexed one while it holds ids (lists leave the index only when emptied by eviction).
    if (remembered?.lists.every((list) => list.size > 0)) {
      for (let index = 0; index < remembered.lists.length; index++) remembered.indexes[index].pushTo(remembered.lists[index], id);
    } else {
      this.index(meta, id);
    }
    this.countCorrelation(meta.rootCorrelationId, meta.correlationId, 1);
  }

  /**
   * Indexes event `id` under each of its tags, its correlation and its root.
   * Once every key has a list (the metadata's second event), the lists are
   * remembered for the metadata: a repeat skips building keys and lookups.
   */
  private index(meta: CorrelationMetadata, id: number): void {
    const indexes: PostingIndex[] = [];
    const lists: PostingList[] = [];
    let complete = true;
    const add = (index: PostingIndex, key: string, isTag = false) => {
      const before = index.size;
      const list = index.add(key, id);
      if (isTag) this.tagPairs += index.size - before;
      if (list === undefined) complete = false;
      else {
        indexes.push(index);
        lists.push(list);
      }
    };
    for (const key in meta.correlationTags) add(this.tagIndex(key), meta.correlationTags[key], true);
    add(this.byCorrelation, meta.correlationId);
    // The same string for both when a correlation is its own root: held once.
    add(this.byRoot, meta.rootCorrelationId === meta.correlationId ? meta.correlationId : meta.rootCorrelationId);
    if (complete) this.lastPostings.set(meta, { indexes, lists });
  }

  private tagIndex(key: string): PostingIndex {
    let index = this.byTag.get(key);
    if (index === undefined) {
      index = new PostingIndex(this.indexRetained);
      this.byTag.set(key, index);
      this.indexRetained.bytes += tagIndexBytes(key);
    }
    return index;
  }

  /** The posting list of one tag pair, if any event holds it. */
  tagList(key: string, value: string): IdList | undefined {
    return this.byTag.get(key)?.get(value);
  }

  /** Ids of a correlation's stored events, ascending. */
  correlationList(correlationId: string): IdList | undefined {
    return this.byCorrelation.get(correlationId);
  }

  /** Ids of a workflow's stored events, ascending. */
  rootList(rootId: string): IdList | undefined {
    return this.byRoot.get(rootId);
  }

  /** Ids of the stored events of another host, ascending (undefined for the local host: see the class). */
  hostList(hostId: string): IdList | undefined {
    return this.byHost.get(hostId);
  }

  /**
   * The wire form of stored event `id` without decoding it: its body, its
   * stamps from history's columns and its shared metadata, one buffer (a valid
   * EventEnvelope encoding). Undefined when it is not held.
   */
  encoded(id: number): Uint8Array | undefined {
    const index = this.events.indexOf(id);
    if (index < 0) return undefined;
    return storedEnvelopeBytes(this.events.bytesAt(index), id, this.events.timeAt(index), this.templateAt(index));
  }

  /** The length of encoded(id)'s bytes, without making them; -1 when `id` is not held. */
  encodedSize(id: number): number {
    const index = this.events.indexOf(id);
    if (index < 0) return -1;
    return storedEnvelopeSize(this.events.bytesAt(index), id, this.events.timeAt(index), this.templateAt(index));
  }

  /** Writes encoded(id)'s bytes into `out` from `at` (room for encodedSize(id) bytes; `id` held); answers where they end. */
  writeEncoded(id: number, out: Buffer, at: number): number {
    const index = this.events.indexOf(id);
    return writeStoredEnvelope(out, at, this.events.bytesAt(index), id, this.events.timeAt(index), this.templateAt(index));
  }

  /** The metadata template of the event at `index`, as the latin1 string it is kept in (no copy). */
  private templateAt(index: number): string | undefined {
    const templateId = this.events.extraAt(index);
    return templateId === 0 ? undefined : this.templates.keyOf(templateId);
  }

  /** Correlation ids with stored events under `rootId` (how many each). */
  correlationsUnder(rootId: string): ReadonlyMap<string, number> {
    const counts = this.rootCorrelations.get(rootId);
    if (counts === undefined) return new Map();
    return typeof counts === "number" ? new Map([[rootId, counts]]) : counts;
  }

  /** Decodes stored event `id`, or undefined when it is not held. */
  get(id: number): EventEnvelope | undefined {
    const bytes = this.events.getBytes(id);
    if (bytes === undefined) return undefined;
    const event = this.decode(bytes, this.events.getExtra(id) ?? 0);
    // Kept in history's columns rather than in every body.
    event.eventId = BigInt(id);
    event.receivedAt = timestampFromMs(this.events.getTime(id) as number);
    return event;
  }

  /** Decodes an event's stored body with its metadata template (0: none). */
  decode(body: Uint8Array, templateId: number): EventEnvelope {
    return decodeStoredEnvelope(body, templateId === 0 ? undefined : this.templates.get(templateId));
  }

  /** Adds `delta` stored events to a correlation's count under its root. */
  private countCorrelation(rootId: string, correlationId: string, delta: number): void {
    const counts = this.rootCorrelations.get(rootId);
    if (counts === undefined) {
      if (correlationId === rootId) {
        this.rootCorrelations.set(rootId, delta);
        this.rootCorrelationBytes += retainedSize.mapEntry + stringSize(rootId);
      } else {
        this.rootCorrelations.set(rootId, new Map([[correlationId, delta]]));
        this.rootCorrelationBytes += retainedSize.mapEntry + stringSize(rootId) + correlationCountsBytes + correlationCountBytes(correlationId);
      }
      return;
    }
    if (typeof counts === "number") {
      if (correlationId === rootId) {
        if (counts + delta > 0) this.rootCorrelations.set(rootId, counts + delta);
        else this.dropRoot(rootId);
        return;
      }
      // A second correlation under the root: a map from now on.
      this.rootCorrelations.set(rootId, new Map([[rootId, counts]]));
      this.rootCorrelationBytes += correlationCountsBytes + correlationCountBytes(rootId);
      this.countCorrelation(rootId, correlationId, delta);
      return;
    }
    const held = counts.get(correlationId);
    const left = (held ?? 0) + delta;
    if (left > 0) {
      if (held === undefined) this.rootCorrelationBytes += correlationCountBytes(correlationId);
      counts.set(correlationId, left);
      return;
    }
    if (held !== undefined) {
      counts.delete(correlationId);
      this.rootCorrelationBytes -= correlationCountBytes(correlationId);
    }
    if (counts.size === 0) this.dropRoot(rootId);
  }

  private dropRoot(rootId: string): void {
    const counts = this.rootCorrelations.get(rootId);
    if (counts === undefined) return;
    this.rootCorrelations.delete(rootId);
    this.rootCorrelationBytes -= retainedSize.mapEntry + stringSize(rootId) + (typeof counts === "number" ? 0 : correlationCountsBytes);
  }

  private unindex(id: number, body: Uint8Array, templateId: number): void {
    if (this.byHost.size > 0) {
      const hostId = peekHostId(body);
      if (hostId !== "" && hostId !== this.localHostId) this.byHost.removeOldest(hostId, id);
    }
    if (templateId === 0) return;
    // The template alone holds every field indexed (tags, ids): no need to decode the event's payload.
    const meta = decodeStoredEnvelope(this.templates.get(templateId)).correlationMetadata;
    this.templates.release(templateId);
    if (meta === undefined) return;
    for (const key in meta.correlationTags) {
      const index = this.byTag.get(key);
      if (index === undefined) continue;
      const before = index.size;
      index.removeOldest(meta.correlationTags[key], id);
      this.tagPairs -= before - index.size;
      if (index.size === 0) {
        this.byTag.delete(key);
        this.indexRetained.bytes -= tagIndexBytes(key);
      }
    }
    this.byCorrelation.removeOldest(meta.correlationId, id);
    this.byRoot.removeOldest(meta.rootCorrelationId, id);
    this.countCorrelation(meta.rootCorrelationId, meta.correlationId, -1);
  }
}

interface Postings {
  indexes: PostingIndex[];
  lists: PostingList[];
}

/** A tag key's own index: its entry, its string, the PostingIndex and its map. */
function tagIndexBytes(key: string): number {
  return retainedSize.mapEntry + stringSize(key) + retainedSize.objectHeader + 2 * retainedSize.field + retainedSize.emptyMap;
}

/** A root's map of correlation counts (once it has more than its own correlation). */
const correlationCountsBytes = retainedSize.emptyMap;

function correlationCountBytes(correlationId: string): number {
  return retainedSize.mapEntry + stringSize(correlationId);
}
