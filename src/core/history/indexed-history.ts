import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { CorrelationMetadata } from "../../../gen/corrbus/v1/correlation_pb.js";
import type { EventEnvelope } from "../../../gen/corrbus/v1/envelope_pb.js";
import { EventHistory } from "./event-history.js";
import { MetadataTemplates } from "./metadata-templates.js";
import { PostingList } from "./posting-list.js";
import { SharedMetadataMemo } from "../../wire/shared-metadata-memo.js";
import {
  type KnownTemplate,
  type SplitEnvelope,
  decodeStoredEnvelope,
  joinEnvelope,
  splitForStorage,
  storedEnvelopeBytes,
} from "../../wire/stored-envelope.js";

/**
 * IndexedHistory is the bounded event history plus its indexes: tag
 * key=value → ids, correlation → ids, root → ids. Every index entry is removed
 * when its event is evicted, so the indexes never hold an id history lacks and
 * never grow past it. Events are stored split (see splitForStorage): their own
 * bytes in history, their correlation metadata once per distinct value.
 */
export class IndexedHistory {
  readonly events: EventHistory;
  private readonly templates = new MetadataTemplates();
  /** The posting lists of the last metadata indexed (see postingsFor). */
  private readonly lastPostings = new SharedMetadataMemo<Postings>();
  /** The template of the last event split: a repeat shares its bytes and key (one entry: no growth). */
  private recentTemplate: KnownTemplate | undefined;
  private readonly byTag = new Map<string, PostingList>();
  private readonly byCorrelation = new Map<string, PostingList>();
  private readonly byRoot = new Map<string, PostingList>();
  /** Root → correlation → stored events: a timeline finds its correlations without decoding events. */
  private readonly rootCorrelations = new Map<string, Map<string, number>>();

  constructor(maxEvents: number, maxBytes: number) {
    this.events = new EventHistory(maxEvents, maxBytes, (id, bytes, template) => this.unindex(id, bytes, template));
  }

  /** Distinct keys in each index and distinct metadata templates (for stats and tests). */
  get indexSizes(): { tags: number; correlations: number; roots: number; templates: number } {
    return { tags: this.byTag.size, correlations: this.byCorrelation.size, roots: this.byRoot.size, templates: this.templates.size };
  }

  /** Bytes really held: events' own bytes plus shared metadata (the byte bound counts each event whole). */
  get heldBytes(): number {
    return this.events.heldBytes + this.templates.bytes;
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
    const templateId = templateKey === undefined ? 0 : this.templates.acquire(templateKey, () => split.template as Uint8Array);
    this.events.append(id, receivedAtMs, body, templateId, encodedSize);
    const meta = event.correlationMetadata;
    if (meta === undefined) return;
    const postings = this.postingsFor(meta);
    for (const list of postings.lists) list.push(id);
    postings.counts.set(meta.correlationId, (postings.counts.get(meta.correlationId) ?? 0) + 1);
  }

  /**
   * The posting lists an event with `meta` goes into (its tags, its
   * correlation, its root) and its root's correlation counts. Remembered for
   * the last metadata: a repeat skips building the keys and the lookups. A
   * remembered list is still the indexed one while it holds ids (lists leave
   * the index only when emptied by eviction); an emptied one is looked up
   * afresh.
   */
  private postingsFor(meta: CorrelationMetadata): Postings {
    const remembered = this.lastPostings.get(meta);
    if (remembered !== undefined && remembered.counts.size > 0 && remembered.lists.every((list) => list.size > 0)) return remembered;
    const lists: PostingList[] = [];
    for (const key in meta.correlationTags) lists.push(listFor(this.byTag, tagKey(key, meta.correlationTags[key])));
    lists.push(listFor(this.byCorrelation, meta.correlationId), listFor(this.byRoot, meta.rootCorrelationId));
    let counts = this.rootCorrelations.get(meta.rootCorrelationId);
    if (counts === undefined) {
      counts = new Map();
      this.rootCorrelations.set(meta.rootCorrelationId, counts);
    }
    const postings = { lists, counts };
    this.lastPostings.set(meta, postings);
    return postings;
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

  /**
   * The wire form of stored event `id` without decoding it: its body, its
   * stamps from history's columns and its shared metadata, one buffer (a valid
   * EventEnvelope encoding). Undefined when it is not held.
   */
  encoded(id: number): Uint8Array | undefined {
    const body = this.events.getBytes(id);
    if (body === undefined) return undefined;
    const templateId = this.events.getExtra(id) ?? 0;
    return storedEnvelopeBytes(body, id, this.events.getTime(id) as number, templateId === 0 ? undefined : this.templates.get(templateId));
  }

  /** Correlation ids with stored events under `rootId` (how many each). */
  correlationsUnder(rootId: string): ReadonlyMap<string, number> {
    return this.rootCorrelations.get(rootId) ?? new Map();
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

  private unindex(id: number, bytes: Uint8Array, templateId: number): void {
    if (templateId === 0) return;
    const meta = this.decode(bytes, templateId).correlationMetadata;
    this.templates.release(templateId);
    if (meta === undefined) return;
    for (const key in meta.correlationTags) {
      shiftFrom(this.byTag, tagKey(key, meta.correlationTags[key]), id);
    }
    shiftFrom(this.byCorrelation, meta.correlationId, id);
    shiftFrom(this.byRoot, meta.rootCorrelationId, id);
    const counts = this.rootCorrelations.get(meta.rootCorrelationId);
    const left = (counts?.get(meta.correlationId) ?? 1) - 1;
    if (left > 0) counts?.set(meta.correlationId, left);
    else counts?.delete(meta.correlationId);
    if (counts?.size === 0) this.rootCorrelations.delete(meta.rootCorrelationId);
  }
}

interface Postings {
  lists: PostingList[];
  counts: Map<string, number>;
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
