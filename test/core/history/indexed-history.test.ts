import { create, toBinary, toJson } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type EventEnvelope, EventEnvelopeSchema, PublisherIdentitySchema } from "../../../gen/corrbus/v1/envelope_pb.js";
import type { TagQuery } from "../../../src/core/broker-ports.js";
import type { CorrelationBroker } from "../../../src/core/correlation-broker.js";
import { IndexedHistory } from "../../../src/core/history/indexed-history.js";
import { parseTopicPattern, topicMatches } from "../../../src/core/routing/topic-pattern.js";
import { createTestBroker, envelope, expectInvalidInput, uuidFor, unverifiedPeer } from "../core-fixtures.js";
import { publishNow } from "../publish-now.js";

const tagKeys = ["host", "inv", "user"];
const tagValues = ["a", "b", "c"];
const topics = ["events.a", "events.b.c", "control.x"];
const patterns = ["events.#", "events.+", "control.#", "+.b.#"];

/** One random event: its topic, tags, correlation (roots 1..3, children 11..13 of them), payload size and clock step. */
interface EventSpec {
  topic: string;
  tags: Record<string, string>;
  root: number;
  child: boolean;
  payloadBytes: number;
  clockStep: number;
  /** Per-event metadata, stored apart from the shared part. */
  sequence: number;
  final: boolean;
}

const eventSpec: fc.Arbitrary<EventSpec> = fc.record({
  topic: fc.constantFrom(...topics),
  tags: fc.dictionary(fc.constantFrom(...tagKeys), fc.constantFrom(...tagValues), { maxKeys: 3 }),
  root: fc.integer({ min: 1, max: 3 }),
  child: fc.boolean(),
  payloadBytes: fc.integer({ min: 0, max: 120 }),
  clockStep: fc.integer({ min: 0, max: 3 }),
  sequence: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 300 }), fc.integer({ min: 2 ** 40, max: 2 ** 50 })),
  final: fc.boolean(),
});

/** What the naive model remembers of a stored event. */
interface ModelEvent {
  id: number;
  topic: string;
  tags: Record<string, string>;
  correlationId: string;
  rootId: string;
  bytes: number;
  receivedAtMs: number;
  /** The metadata every event of this shape shares (ids, tags), as a key. */
  sharedMetadata?: string;
  /** The decoded event as published, for the round trip. */
  published?: unknown;
}

function correlationOf(spec: EventSpec) {
  const root = uuidFor(spec.root);
  return spec.child
    ? { correlationId: uuidFor(10 + spec.root), parentCorrelationId: root, rootCorrelationId: root }
    : { correlationId: root, rootCorrelationId: root };
}

/** Appends to the model as the history must: oldest first out while a bound would be exceeded. */
function modelAppend(model: ModelEvent[], event: ModelEvent, maxEvents: number, maxBytes: number): void {
  let bytes = model.reduce((sum, e) => sum + e.bytes, 0);
  while (model.length > 0 && (model.length + 1 > maxEvents || bytes + event.bytes > maxBytes)) {
    bytes -= (model.shift() as ModelEvent).bytes;
  }
  model.push(event);
}

function hasTags(event: ModelEvent, tags: Record<string, string>): boolean {
  return Object.entries(tags).every(([key, value]) => event.tags[key] === value);
}

/** Reads every page of a query with the given page size. */
function allPages(broker: CorrelationBroker, query: Omit<TagQuery, "limit" | "cursor">, limit: number): number[] {
  const ids: number[] = [];
  let cursor = 0;
  for (let pages = 0; pages < 1000; pages++) {
    const page = broker.findByTag({ ...query, limit, cursor });
    expect(page.ids.length).toBeLessThanOrEqual(limit);
    ids.push(...page.ids);
    if (page.nextCursor === 0) return ids;
    expect(page.ids).toHaveLength(limit);
    expect(page.nextCursor).toBe(page.ids[page.ids.length - 1]);
    cursor = page.nextCursor;
  }
  throw new Error("paging did not end");
}

describe("IndexedHistory", () => {
  describe("indexes under eviction", () => {
    it("should hold exactly the retained events in every index", () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 12 }),
          fc.integer({ min: 150, max: 1500 }),
          fc.array(eventSpec, { maxLength: 60 }),
          (maxEvents, maxBytes, specs) => {
            const history = new IndexedHistory(maxEvents, maxBytes);
            const model: ModelEvent[] = [];
            specs.forEach((spec, index) => {
              const id = index + 1;
              const event = envelope(
                spec.topic,
                { ...correlationOf(spec), correlationTags: spec.tags, sequenceNumber: spec.sequence, final: spec.final },
                { payload: new Uint8Array(spec.payloadBytes) },
              );
              event.eventId = BigInt(id);
              event.receivedAt = timestampFromMs(id);
              const bytes = toBinary(EventEnvelopeSchema, event);
              history.append(event, id);
              const meta = correlationOf(spec);
              // Shared by encoded bytes: the same tags in another insertion order encode (and are kept) apart.
              const sharedMetadata = JSON.stringify([meta.correlationId, meta.parentCorrelationId ?? "", Object.entries(spec.tags)]);
              const published = toJson(EventEnvelopeSchema, event);
              modelAppend(
                model,
                {
                  id,
                  topic: spec.topic,
                  tags: spec.tags,
                  correlationId: meta.correlationId,
                  rootId: meta.rootCorrelationId,
                  bytes: bytes.length,
                  receivedAtMs: id,
                  sharedMetadata,
                  published,
                },
                maxEvents,
                maxBytes,
              );
            });
            expect(history.events.size).toBe(model.length);
            expect(history.events.bytes).toBe(model.reduce((sum, e) => sum + e.bytes, 0));
            expect(history.events.evictions).toBe(specs.length - model.length);

            const listIds = (list: { size: number; at(i: number): number } | undefined) =>
              list === undefined ? [] : Array.from({ length: list.size }, (_, i) => list.at(i));
            const usedTags = new Set<string>();
            for (const key of tagKeys) {
              for (const value of tagValues) {
                const expected = model.filter((e) => e.tags[key] === value).map((e) => e.id);
                expect(listIds(history.tagList(key, value))).toEqual(expected);
                if (expected.length > 0) usedTags.add(`${key}=${value}`);
              }
            }
            const correlations = new Set(model.map((e) => e.correlationId));
            const roots = new Set(model.map((e) => e.rootId));
            for (let n = 1; n <= 3; n++) {
              for (const id of [uuidFor(n), uuidFor(10 + n)]) {
                expect(listIds(history.correlationList(id))).toEqual(model.filter((e) => e.correlationId === id).map((e) => e.id));
              }
              expect(listIds(history.rootList(uuidFor(n)))).toEqual(model.filter((e) => e.rootId === uuidFor(n)).map((e) => e.id));
            }
            // No index keeps an empty entry for an evicted key.
            // Shared metadata is stored once per distinct value and goes with its last event.
            const templates = new Set(model.map((e) => e.sharedMetadata)).size;
            expect(history.indexSizes).toEqual({ tags: usedTags.size, correlations: correlations.size, roots: roots.size, hosts: 0, templates });
            // Every retained event reads back exactly as it was stored, shared metadata and all.
            for (const e of model) expect(toJson(EventEnvelopeSchema, history.get(e.id) as EventEnvelope)).toEqual(e.published);
          },
        ),
        { numRuns: 150 },
      );
    });

    it("should index a repeat of the last metadata after eviction emptied its lists", () => {
      // Capacity 1: each append evicts the previous event, emptying (and dropping) every list it was in.
      const history = new IndexedHistory(1, 1_000_000);
      const root = uuidFor(1);
      for (let id = 1; id <= 3; id++) {
        const event = envelope("events.a", { correlationId: root, rootCorrelationId: root, correlationTags: { host: "a" }, sequenceNumber: id });
        event.eventId = BigInt(id);
        event.receivedAt = timestampFromMs(id);
        history.append(event, id);
        const list = history.tagList("host", "a");
        expect([list?.size, list?.at(0)]).toEqual([1, id]);
        expect([history.correlationList(root)?.at(0), history.rootList(root)?.at(0)]).toEqual([id, id]);
        expect([...history.correlationsUnder(root)]).toEqual([[root, 1]]);
      }
      expect(history.indexSizes).toEqual({ tags: 1, correlations: 1, roots: 1, hosts: 0, templates: 1 });
    });

    it("should keep events without correlation out of the indexes", () => {
      const history = new IndexedHistory(2, 10_000);
      const plain = envelope("events.a");
      plain.eventId = 1n;
      history.append(plain, 1);
      expect(history.indexSizes).toEqual({ tags: 0, correlations: 0, roots: 0, hosts: 0, templates: 0 });
      for (let id = 2; id <= 3; id++) {
        const event = envelope("events.a", { correlationId: uuidFor(1), correlationTags: { k: "v" } });
        event.eventId = BigInt(id);
        history.append(event, id);
      }
      expect(history.get(1)).toBeUndefined();
      expect(history.tagList("k", "v")?.size).toBe(2);
    });
  });

  describe("through CorrelationBroker", () => {
    it("should answer findByTag, timeline and stats as a naive model of the retained events would", () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 12 }),
          fc.integer({ min: 300, max: 2000 }),
          fc.array(eventSpec, { minLength: 1, maxLength: 50 }),
          fc.record({
            tags: fc.dictionary(fc.constantFrom(...tagKeys), fc.constantFrom(...tagValues), { minKeys: 1, maxKeys: 2 }),
            pattern: fc.option(fc.constantFrom(...patterns), { nil: undefined }),
            since: fc.option(fc.integer({ min: 0, max: 160 }), { nil: undefined }),
            until: fc.option(fc.integer({ min: 0, max: 160 }), { nil: undefined }),
            limit: fc.integer({ min: 1, max: 6 }),
          }),
          (maxEvents, maxBytes, specs, query) => {
            const start = 1_000_000;
            const { broker, clock } = createTestBroker({ historyMaxEvents: maxEvents, historyMaxBytes: maxBytes }, start);
            const model: ModelEvent[] = [];
            for (const spec of specs) {
              clock.now += spec.clockStep;
              const meta = correlationOf(spec);
              const event = envelope(spec.topic, { ...meta, correlationTags: spec.tags }, { payload: new Uint8Array(spec.payloadBytes) });
              const result = publishNow(broker, event, unverifiedPeer);
              // The size of the event as stamped (the caller's message stays unstamped): an unverified peer's stated pid.
              const publisher = create(PublisherIdentitySchema, { pid: event.publisherProcessId, statedPid: event.publisherProcessId, verified: false });
              const stamped = { ...event, eventId: BigInt(result.eventId), receivedAt: timestampFromMs(result.receivedAtMs), publisher };
              const bytes = toBinary(EventEnvelopeSchema, stamped).length;
              modelAppend(
                model,
                {
                  id: result.eventId,
                  topic: spec.topic,
                  tags: spec.tags,
                  correlationId: meta.correlationId,
                  rootId: meta.rootCorrelationId,
                  bytes,
                  receivedAtMs: result.receivedAtMs,
                },
                maxEvents,
                maxBytes,
              );
            }
            const stats = broker.stats();
            expect(stats.eventsPublished).toBe(specs.length);
            expect(stats.eventsStored).toBe(model.length);
            expect(stats.bytesStored).toBe(model.reduce((sum, e) => sum + e.bytes, 0));
            expect(stats.eventsEvicted).toBe(specs.length - model.length);

            // findByTag: every tag pair, both directions, one page.
            for (const key of tagKeys) {
              for (const value of tagValues) {
                const expected = model.filter((e) => e.tags[key] === value).map((e) => e.id);
                const base = { tags: { [key]: value }, topicPattern: "", limit: 1000, cursor: 0 };
                expect(broker.findByTag({ ...base, oldestFirst: true })).toEqual({ ids: expected, nextCursor: 0 });
                expect(broker.findByTag({ ...base, oldestFirst: false })).toEqual({ ids: [...expected].reverse(), nextCursor: 0 });
              }
            }

            // findByTag: a random query (AND of tags, pattern, time range), read page by page.
            const pattern = query.pattern === undefined ? undefined : parseTopicPattern(query.pattern);
            const expected = model
              .filter((e) => hasTags(e, query.tags))
              .filter((e) => pattern === undefined || topicMatches(pattern, e.topic))
              .filter((e) => query.since === undefined || e.receivedAtMs >= start + query.since)
              .filter((e) => query.until === undefined || e.receivedAtMs < start + query.until)
              .map((e) => e.id);
            const base = {
              tags: query.tags,
              topicPattern: query.pattern ?? "",
              sinceMs: query.since === undefined ? undefined : start + query.since,
              untilMs: query.until === undefined ? undefined : start + query.until,
            };
            expect(allPages(broker, { ...base, oldestFirst: true }, query.limit)).toEqual(expected);
            expect(allPages(broker, { ...base, oldestFirst: false }, query.limit)).toEqual([...expected].reverse());

            // timeline: every root's retained events, ascending; correlation states still tracked.
            for (let n = 1; n <= 3; n++) {
              const root = uuidFor(n);
              const used = specs.some((spec) => spec.root === n);
              if (!used) continue;
              const timeline = broker.timeline(root, 0, 0);
              expect(timeline.ids).toEqual(model.filter((e) => e.rootId === root).map((e) => e.id));
              expect(timeline.truncated).toBe(false);
            }
          },
        ),
        { numRuns: 120 },
      );
    });
  });
});

describe("CorrelationBroker.findByTag", () => {
  const inv = { investigation_id: "INC-12345" };

  function seeded() {
    const test = createTestBroker();
    const { broker, clock } = test;
    // ids 1..10, one ms apart; odd ids on events.process.*, even on events.network.*.
    for (let i = 1; i <= 10; i++) {
      clock.now += 1;
      const tags: Record<string, string> = i <= 8 ? { ...inv } : { investigation_id: "INC-9" };
      if (i % 3 === 0) tags.host = "db1";
      publishNow(
        broker,
        envelope(i % 2 === 1 ? "events.process.started" : "events.network.connected", { correlationId: uuidFor(1), correlationTags: tags }),
        unverifiedPeer,
      );
    }
    return test;
  }

  describe("paging", () => {
    it("should page newest first with limit and cursor", () => {
      const { broker } = seeded();
      const first = broker.findByTag({ tags: inv, topicPattern: "", limit: 3, cursor: 0, oldestFirst: false });
      expect(first).toEqual({ ids: [8, 7, 6], nextCursor: 6 });
      const second = broker.findByTag({ tags: inv, topicPattern: "", limit: 3, cursor: first.nextCursor, oldestFirst: false });
      expect(second).toEqual({ ids: [5, 4, 3], nextCursor: 3 });
      const third = broker.findByTag({ tags: inv, topicPattern: "", limit: 3, cursor: second.nextCursor, oldestFirst: false });
      expect(third).toEqual({ ids: [2, 1], nextCursor: 0 });
    });

    it("should page oldest first with limit and cursor", () => {
      const { broker } = seeded();
      const first = broker.findByTag({ tags: inv, topicPattern: "", limit: 4, cursor: 0, oldestFirst: true });
      expect(first).toEqual({ ids: [1, 2, 3, 4], nextCursor: 4 });
      const second = broker.findByTag({ tags: inv, topicPattern: "", limit: 4, cursor: 4, oldestFirst: true });
      expect(second).toEqual({ ids: [5, 6, 7, 8], nextCursor: 0 });
    });

    it("should answer no cursor when the last page is exactly full", () => {
      const { broker } = seeded();
      expect(broker.findByTag({ tags: inv, topicPattern: "", limit: 8, cursor: 0, oldestFirst: true })).toEqual({
        ids: [1, 2, 3, 4, 5, 6, 7, 8],
        nextCursor: 0,
      });
    });

    it("should use the default page size of 100 for limit 0 and refuse one over the maximum", () => {
      const { broker } = createTestBroker({ maxFindLimit: 150 });
      for (let i = 0; i < 120; i++) publishNow(broker, envelope("events.a", { correlationId: uuidFor(1), correlationTags: inv }), unverifiedPeer);
      const page = broker.findByTag({ tags: inv, topicPattern: "", limit: 0, cursor: 0, oldestFirst: true });
      expect(page.ids).toHaveLength(100);
      expect(page.nextCursor).toBe(100);
      const error = expectInvalidInput(() => broker.findByTag({ tags: inv, topicPattern: "", limit: 151, cursor: 0, oldestFirst: true }));
      expect([error.field, error.description]).toEqual(["limit", "151 exceeds the limit of 150"]);
    });
  });

  describe("filters", () => {
    it("should AND all given tag pairs", () => {
      const { broker } = seeded();
      expect(broker.findByTag({ tags: { ...inv, host: "db1" }, topicPattern: "", limit: 0, cursor: 0, oldestFirst: true }).ids).toEqual([3, 6]);
      expect(broker.findByTag({ tags: { investigation_id: "INC-9", host: "db1" }, topicPattern: "", limit: 0, cursor: 0, oldestFirst: true }).ids).toEqual([9]);
      expect(broker.findByTag({ tags: { ...inv, host: "nope" }, topicPattern: "", limit: 0, cursor: 0, oldestFirst: true }).ids).toEqual([]);
    });

    it("should filter by topic pattern", () => {
      const { broker } = seeded();
      expect(broker.findByTag({ tags: inv, topicPattern: "events.network.#", limit: 0, cursor: 0, oldestFirst: true }).ids).toEqual([2, 4, 6, 8]);
      expect(broker.findByTag({ tags: inv, topicPattern: "+.process.+", limit: 2, cursor: 0, oldestFirst: false })).toEqual({ ids: [7, 5], nextCursor: 5 });
    });

    it("should filter by a time range, since inclusive and until exclusive", () => {
      const { broker } = seeded();
      const t3 = broker.event(3)?.receivedAt;
      const t6 = broker.event(6)?.receivedAt;
      const ms = (t: typeof t3) => Number(t?.seconds) * 1000 + Math.floor((t?.nanos ?? 0) / 1e6);
      const page = broker.findByTag({ tags: inv, topicPattern: "", sinceMs: ms(t3), untilMs: ms(t6), limit: 0, cursor: 0, oldestFirst: true });
      expect(page.ids).toEqual([3, 4, 5]);
      const after = broker.findByTag({ tags: inv, topicPattern: "", sinceMs: ms(t6) + 1000, limit: 0, cursor: 0, oldestFirst: true });
      expect(after.ids).toEqual([]);
    });

    it("should refuse a query without tags and a bad topic pattern", () => {
      const { broker } = seeded();
      const none = expectInvalidInput(() => broker.findByTag({ tags: {}, topicPattern: "", limit: 0, cursor: 0, oldestFirst: true }));
      expect([none.field, none.description]).toEqual(["tags", "at least one key=value pair is required"]);
      const bad = expectInvalidInput(() => broker.findByTag({ tags: inv, topicPattern: "events.#.x", limit: 0, cursor: 0, oldestFirst: true }));
      expect([bad.field, bad.description]).toEqual(["topic_pattern", 'segment 2 "#" of "events.#.x" must be the last segment']);
    });

    it("should refuse more query tags than maxQueryTags", () => {
      const { broker } = createTestBroker({ maxQueryTags: 2 });
      const error = expectInvalidInput(() => broker.findByTag({ tags: { a: "1", b: "2", c: "3" }, topicPattern: "", limit: 0, cursor: 0, oldestFirst: true }));
      expect([error.field, error.description]).toEqual(["tags", "3 tags exceeds the limit of 2"]);
    });

    it("should not confuse tag pairs whose key and value join to the same text", () => {
      const { broker } = createTestBroker();
      publishNow(broker, envelope("events.a", { correlationId: uuidFor(1), correlationTags: { "a\u0000b": "c" } }), unverifiedPeer);
      publishNow(broker, envelope("events.a", { correlationId: uuidFor(1), correlationTags: { a: "b\u0000c" } }), unverifiedPeer);
      publishNow(broker, envelope("events.a", { correlationId: uuidFor(1), correlationTags: { a: "b\u0000c", "a\u0000b": "c" } }), unverifiedPeer);
      expect(broker.findByTag({ tags: { a: "b\u0000c" }, topicPattern: "", limit: 0, cursor: 0, oldestFirst: true }).ids).toEqual([2, 3]);
      expect(broker.findByTag({ tags: { "a\u0000b": "c" }, topicPattern: "", limit: 0, cursor: 0, oldestFirst: true }).ids).toEqual([1, 3]);
    });
  });
});
