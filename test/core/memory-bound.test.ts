import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { IndexedHistory } from "../../src/core/history/indexed-history.js";
import { createTestBroker, envelope, uuidFor, unverifiedPeer } from "./core-fixtures.js";
import { publishBatchNow } from "./publish-now.js";

/** Event `n` as issue 14's attack sent them: its own root, eight tag values no other event has. */
function ownRootEvent(n: number) {
  const tags: Record<string, string> = {};
  for (let key = 0; key < 8; key++) tags[`k${key}`] = `value-${key}-${String(n).padStart(8, "0")}`;
  return envelope("events.attack", { correlationId: uuidFor(n), correlationTags: tags, workflowStage: "scan", sourceProcess: "attacker" });
}

/** Appends event `id` (stamped) to `history`. */
function appendTo(history: IndexedHistory, id: number, event = ownRootEvent(id)): void {
  event.eventId = BigInt(id);
  event.receivedAt = timestampFromMs(id);
  history.append(event, id);
}

function idsOf(list: { size: number; at(index: number): number } | undefined): number[] {
  return list === undefined ? [] : Array.from({ length: list.size }, (_, index) => list.at(index));
}

describe("the memory bound", () => {
  describe("IndexedHistory.evictForMemory", () => {
    it("should evict oldest first until the estimate fits the budget, keeping every index exact", () => {
      const spec = fc.record({
        root: fc.integer({ min: 1, max: 40 }),
        tag: fc.option(fc.integer({ min: 1, max: 5 }), { nil: undefined }),
        shared: fc.boolean(),
      });
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 400_000 }), fc.array(spec, { minLength: 1, maxLength: 80 }), (budget, specs) => {
          const history = new IndexedHistory(1_000_000, 1 << 30);
          const tagsOf = specs.map((s, index) => ({
            ...(s.tag === undefined ? {} : { host: `h${s.tag}` }),
            ...(s.shared ? {} : { pid: String(index) }),
          }));
          specs.forEach((s, index) => {
            appendTo(history, index + 1, envelope("events.a", { correlationId: uuidFor(s.root), correlationTags: tagsOf[index] }));
            history.evictForMemory(budget);
            expect(history.retainedBytes <= budget || history.events.size === 1).toBe(true);
          });
          // What is held is the newest events, every older one evicted for memory.
          const first = history.events.firstId;
          expect(history.events.lastId).toBe(specs.length);
          expect(history.events.size).toBe(specs.length - first + 1);
          expect(history.memoryEvictions).toBe(first - 1);
          const held = specs.map((s, index) => ({ id: index + 1, root: uuidFor(s.root), tags: tagsOf[index] as Record<string, string> })).slice(first - 1);
          for (let tag = 1; tag <= 5; tag++) {
            expect(idsOf(history.tagList("host", `h${tag}`))).toEqual(held.filter((e) => e.tags.host === `h${tag}`).map((e) => e.id));
          }
          for (const e of held) expect(idsOf(history.tagList("pid", e.tags.pid ?? "-"))).toEqual(e.tags.pid === undefined ? [] : [e.id]);
          for (let root = 1; root <= 40; root++) {
            const expected = held.filter((e) => e.root === uuidFor(root)).map((e) => e.id);
            expect(idsOf(history.rootList(uuidFor(root)))).toEqual(expected);
            expect(idsOf(history.correlationList(uuidFor(root)))).toEqual(expected);
          }
          const pairs = new Set(held.flatMap((e) => Object.entries(e.tags).map(([key, value]) => `${key}=${value}`)));
          expect(history.indexSizes.tags).toBe(pairs.size);
        }),
        { numRuns: 100 },
      );
    });

    it("should account every key, list and template back out with its last event", () => {
      // Ten events held at a time, each its own root with eight values nobody repeats: every
      // append adds ten index keys and a template, and the eviction it causes removes as many.
      const history = new IndexedHistory(10, 1 << 30);
      const indexAndTemplates = () => history.retainedBytes - history.events.retainedBytes;
      for (let id = 1; id <= 100; id++) appendTo(history, id);
      const steady = indexAndTemplates();
      for (let id = 101; id <= 3000; id++) appendTo(history, id);
      expect(indexAndTemplates()).toBe(steady);
      expect(history.indexSizes).toEqual({ tags: 80, correlations: 10, roots: 10, hosts: 0, templates: 10 });
    });

    it("should find a key held by one event as a list of that one id", () => {
      const history = new IndexedHistory(100, 1 << 30);
      appendTo(history, 7);
      const list = history.tagList("k3", "value-3-00000007");
      expect([list?.size, list?.at(0), list?.has(7), list?.has(8), list?.lowerBound(7), list?.lowerBound(8)]).toEqual([1, 7, true, false, 0, 1]);
      expect(idsOf(history.rootList(uuidFor(7)))).toEqual([7]);
      expect([...history.correlationsUnder(uuidFor(7))]).toEqual([[uuidFor(7), 1]]);
    });
  });

  describe("CorrelationBroker with memoryLimitBytes", () => {
    const memoryLimitBytes = 2 * 1024 * 1024;

    function attack(count: number) {
      const { broker, clock } = createTestBroker({ memoryLimitBytes });
      for (let start = 1; start <= count; start += 500) {
        publishBatchNow(
          broker,
          Array.from({ length: Math.min(500, count - start + 1) }, (_, index) => ownRootEvent(start + index)),
          unverifiedPeer,
        );
      }
      return { broker, clock };
    }

    it("should keep history and workflows together under the limit, workflows under a quarter, and count what it evicted apart from the history bounds", () => {
      const { broker } = attack(6000);
      const stats = broker.stats();
      expect(stats.memory.limitBytes).toBe(memoryLimitBytes);
      expect(stats.memory.historyBytes + stats.memory.workflowBytes).toBeLessThanOrEqual(memoryLimitBytes);
      expect(stats.memory.workflowBytes).toBeLessThanOrEqual(memoryLimitBytes / 4);
      expect(stats.memory.eventsEvicted).toBe(6000 - stats.eventsStored);
      expect(stats.memory.eventsEvicted).toBeGreaterThan(0);
      expect(stats.memory.workflowsEvicted).toBe(6000 - stats.workflowsActive);
      expect(stats.memory.workflowsEvicted).toBeGreaterThan(0);
      expect([stats.eventsEvicted, stats.workflowsEvicted]).toEqual([0, 0]);
      expect(stats.indexes).toEqual({
        tags: 8 * stats.eventsStored,
        correlations: stats.eventsStored,
        roots: stats.eventsStored,
        hosts: 0,
        templates: stats.eventsStored,
      });
    });

    it("should still find the newest events by their tags and forget the oldest", () => {
      const { broker } = attack(6000);
      const find = (n: number) =>
        broker.findByTag({ tags: { k5: `value-5-${String(n).padStart(8, "0")}` }, topicPattern: "", limit: 10, cursor: 0, oldestFirst: true }).ids;
      expect(find(6000)).toEqual([6000]);
      expect(find(1)).toEqual([]);
      expect(broker.workflow(uuidFor(6000)).tracked).toBe(true);
    });

    it("should give back every workflow byte when the tracker forgets them all", () => {
      const { broker, clock } = attack(3000);
      const before = broker.stats();
      expect(before.memory.workflowBytes).toBeGreaterThan(0);
      clock.now += broker.limits.workflowIdleMs + 1;
      broker.maintain();
      expect(broker.stats()).toMatchObject({ workflowsActive: 0, workflowsExpired: before.workflowsActive, memory: { workflowBytes: 0 } });
    });
  });
});
