import { timestampMs } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import type { CorrelationBroker } from "../../../src/core/correlation-broker.js";
import { LineageError } from "../../../src/core/validation/invalid-input-error.js";
import { correlationCaps } from "../../../src/core/tracking/workflow-tracker.js";
import { createTestBroker, envelope, type MetaInit, uuidFor, unverifiedPeer } from "../core-fixtures.js";
import { publishBatchNow, publishNow } from "../publish-now.js";

const root = uuidFor(1);
const child = uuidFor(2);
const grandchild = uuidFor(3);

function publish(broker: CorrelationBroker, topic: string, meta?: MetaInit, pid = 4242) {
  return publishNow(broker, envelope(topic, meta, { pid }), unverifiedPeer);
}

/** Runs `action`, which must throw a LineageError; answers it. */
function expectLineageError(action: () => unknown): LineageError {
  try {
    action();
  } catch (error) {
    if (error instanceof LineageError) return error;
    throw new Error(`expected LineageError, got ${String(error)}`);
  }
  throw new Error("expected LineageError, nothing was thrown");
}

/** Publishing `meta` must be refused with a LineageError and change nothing but the rejection counters. */
function expectRefusedUnchanged(broker: CorrelationBroker, meta: MetaInit): LineageError {
  const before = broker.stats();
  const head = broker.headEventId;
  const event = envelope("events.a", meta);
  const error = expectLineageError(() => publishNow(broker, event, unverifiedPeer));
  expect(event.eventId).toBe(0n);
  expect(broker.headEventId).toBe(head);
  expect(broker.stats()).toEqual({
    ...before,
    publishesRejected: before.publishesRejected + 1,
    lineageRejected: before.lineageRejected + 1,
  });
  return error;
}

describe("WorkflowTracker (via CorrelationBroker.publish)", () => {
  describe("stamping", () => {
    it("should give strictly increasing event ids and never-decreasing receive times", () => {
      const { broker, clock } = createTestBroker();
      const steps = [5, 0, -100, 3, -1, 10];
      const seen: { id: number; at: number }[] = [];
      for (const step of steps) {
        clock.now += step;
        const event = envelope("events.a", { correlationId: root });
        const result = publishNow(broker, event, unverifiedPeer);
        // The stamps go on the stored copy; the caller's message is left as it was.
        const stored = broker.event(result.eventId);
        expect(stored?.eventId).toBe(BigInt(result.eventId));
        expect(timestampMs(stored?.receivedAt ?? ({ seconds: 0n, nanos: 0 } as never))).toBe(result.receivedAtMs);
        expect(event.eventId).toBe(0n);
        expect(event.receivedAt).toBeUndefined();
        seen.push({ id: result.eventId, at: result.receivedAtMs });
      }
      expect(seen.map((s) => s.id)).toEqual([1, 2, 3, 4, 5, 6]);
      for (let i = 1; i < seen.length; i++) expect(seen[i].at).toBeGreaterThanOrEqual(seen[i - 1].at);
      // The clock went back by 100 ms; receive times held until it caught up.
      expect(seen[2].at).toBe(seen[1].at);
      expect(broker.stats().lastEventId).toBe(6);
      expect(broker.event(3)?.eventId).toBe(3n);
    });

    it("should stamp an unverified publisher with its stated pid", () => {
      const { broker } = createTestBroker();
      const { eventId } = publish(broker, "events.a", undefined, 777);
      const stored = broker.event(eventId);
      expect(stored?.publisher?.pid).toBe(777);
      expect(stored?.publisher?.statedPid).toBe(777);
      expect(stored?.publisher?.verified).toBe(false);
      expect(stored?.publisher?.uid).toBeUndefined();
    });

    it("should stamp a verified publisher with the kernel's ids and flag a stated pid that disagrees", () => {
      const { broker } = createTestBroker();
      const { eventId } = publishNow(broker, envelope("events.a", undefined, { pid: 777 }), { verified: true, pid: 900, uid: 1000, gid: 1001 });
      const publisher = broker.event(eventId)?.publisher;
      expect([publisher?.pid, publisher?.uid, publisher?.gid, publisher?.verified]).toEqual([900, 1000, 1001, true]);
      expect([publisher?.statedPid, publisher?.statedPidMismatch]).toEqual([777, true]);
    });

    it("should overwrite broker fields a publisher tried to set", () => {
      const { broker } = createTestBroker();
      publish(broker, "events.a");
      const event = envelope("events.a");
      event.eventId = 999n;
      const result = publishNow(broker, event, unverifiedPeer);
      expect(result.eventId).toBe(2);
      expect(broker.event(2)?.eventId).toBe(2n);
    });
  });

  describe("stages", () => {
    it("should track each stage's first and last time and event count", () => {
      const { broker, clock } = createTestBroker();
      const t0 = clock.now;
      publish(broker, "control.scan", { correlationId: root, workflowStage: "enumeration", sourceProcess: "agent" });
      clock.now += 10;
      publish(broker, "events.process", { correlationId: root, workflowStage: "enumeration", sourceProcess: "procmon" });
      clock.now += 10;
      publish(broker, "events.integrity", { correlationId: root, workflowStage: "integrity", sourceProcess: "filemon" });
      clock.now += 5;
      publish(broker, "events.process", { correlationId: root, workflowStage: "enumeration", sourceProcess: "procmon" });
      const state = broker.workflow(root).state;
      expect([...state.stages.keys()]).toEqual(["enumeration", "integrity"]);
      const enumeration = state.stages.get("enumeration");
      expect([enumeration?.firstAt, enumeration?.lastAt, enumeration?.eventCount]).toEqual([t0, t0 + 25, 3]);
      const integrity = state.stages.get("integrity");
      expect([integrity?.firstAt, integrity?.lastAt, integrity?.eventCount]).toEqual([t0 + 20, t0 + 20, 1]);
      expect(state.totalEvents).toBe(4);
      expect([state.firstAt, state.lastAt]).toEqual([t0, t0 + 25]);
    });

    it("should mark a stage completed once every publisher of it sent final", () => {
      const { broker, clock } = createTestBroker();
      publish(broker, "events.a", { correlationId: root, workflowStage: "s1", sourceProcess: "p1" });
      publish(broker, "events.a", { correlationId: root, workflowStage: "s1", sourceProcess: "p2" });
      clock.now += 7;
      publish(broker, "events.a", { correlationId: root, workflowStage: "s1", sourceProcess: "p1", final: true });
      expect(broker.workflow(root).state.stages.get("s1")?.completedAt).toBeUndefined();
      clock.now += 3;
      publish(broker, "events.a", { correlationId: root, workflowStage: "s1", sourceProcess: "p2", final: true });
      expect(broker.workflow(root).state.stages.get("s1")?.completedAt).toBe(clock.now);
    });

    it("should stop tracking new stages past the per-correlation cap but keep counting events", () => {
      const { broker } = createTestBroker();
      for (let i = 0; i <= correlationCaps.maxStages; i++) publish(broker, "events.a", { correlationId: root, workflowStage: `stage-${i}` });
      const state = broker.workflow(root).state;
      expect(state.stages.size).toBe(correlationCaps.maxStages);
      expect(state.totalEvents).toBe(correlationCaps.maxStages + 1);
    });
  });

  describe("participants", () => {
    it("should list each source process with its pid, event count and final flag", () => {
      const { broker } = createTestBroker();
      publish(broker, "events.a", { correlationId: root, sourceProcess: "procmon" }, 11);
      publish(broker, "events.a", { correlationId: root, sourceProcess: "procmon", final: true }, 11);
      publish(broker, "events.a", { correlationId: root, sourceProcess: "netmon" }, 12);
      publish(broker, "events.a", { correlationId: root }, 13);
      const participants = broker.workflow(root).state.participants;
      expect([...participants.keys()]).toEqual(["procmon", "netmon", "pid:13"]);
      expect(participants.get("procmon")).toMatchObject({ sourceProcess: "procmon", pid: 11, verified: false, eventCount: 2, finalSent: true });
      expect(participants.get("netmon")).toMatchObject({ pid: 12, eventCount: 1, finalSent: false });
      expect(participants.get("pid:13")).toMatchObject({ sourceProcess: "", pid: 13, eventCount: 1 });
    });

    it("should record the verified pid of a participant", () => {
      const { broker } = createTestBroker();
      publishNow(broker, envelope("events.a", { correlationId: root, sourceProcess: "procmon" }, { pid: 1 }), { verified: true, pid: 321, uid: 0, gid: 0 });
      expect(broker.workflow(root).state.participants.get("procmon")).toMatchObject({ pid: 321, verified: true });
    });
  });

  describe("sequence gaps", () => {
    it("should list each gap with its first and last missing number, per publisher", () => {
      const { broker } = createTestBroker();
      for (const sequenceNumber of [1, 2, 5, 6, 9]) publish(broker, "events.a", { correlationId: root, sourceProcess: "procmon", sequenceNumber });
      for (const sequenceNumber of [1, 3]) publish(broker, "events.a", { correlationId: root, sourceProcess: "netmon", sequenceNumber });
      const state = broker.workflow(root).state;
      expect(state.gaps).toEqual([
        { sourceProcess: "procmon", firstMissing: 3n, lastMissing: 4n },
        { sourceProcess: "procmon", firstMissing: 7n, lastMissing: 8n },
        { sourceProcess: "netmon", firstMissing: 2n, lastMissing: 2n },
      ]);
      expect(state.gapCount).toBe(3);
    });

    it("should report a gap at the start and never one for unnumbered (0) events", () => {
      const { broker } = createTestBroker();
      for (const sequenceNumber of [0, 0, 3, 0, 4]) publish(broker, "events.a", { correlationId: root, sourceProcess: "p", sequenceNumber });
      expect(broker.workflow(root).state.gaps).toEqual([{ sourceProcess: "p", firstMissing: 1n, lastMissing: 2n }]);
    });

    it("should report no gap for consecutive numbers, repeats or an older number sent again", () => {
      const { broker } = createTestBroker();
      for (const sequenceNumber of [1, 2, 2, 3, 1, 4]) publish(broker, "events.a", { correlationId: root, sourceProcess: "p", sequenceNumber });
      expect(broker.workflow(root).state.gaps).toEqual([]);
      expect(broker.workflow(root).state.gapCount).toBe(0);
    });

    it("should keep sequence numbers exact over the whole uint64 range (no rounding past 2^53)", () => {
      const { broker } = createTestBroker();
      const max = 2n ** 64n - 1n;
      // Doubles cannot tell 2^53 from 2^53+1: as numbers these would read as a repeat and lose the last one.
      for (const sequenceNumber of [1n, 2n ** 53n, 2n ** 53n + 1n, max])
        publish(broker, "events.a", { correlationId: root, sourceProcess: "p", sequenceNumber });
      const state = broker.workflow(root).state;
      expect(state.participants.get("p")?.lastSequence).toBe(max);
      expect(state.gaps).toEqual([
        { sourceProcess: "p", firstMissing: 2n, lastMissing: 2n ** 53n - 1n },
        { sourceProcess: "p", firstMissing: 2n ** 53n + 2n, lastMissing: max - 1n },
      ]);
    });

    it("should count every gap but list at most the cap", () => {
      const { broker } = createTestBroker();
      for (let i = 0; i <= correlationCaps.maxGaps; i++) publish(broker, "events.a", { correlationId: root, sourceProcess: "p", sequenceNumber: 2 * i + 2 });
      const state = broker.workflow(root).state;
      expect(state.gapCount).toBe(correlationCaps.maxGaps + 1);
      expect(state.gaps).toHaveLength(correlationCaps.maxGaps);
    });
  });

  describe("lineage", () => {
    it("should link children to parents under one root, with depths", () => {
      const { broker } = createTestBroker();
      publish(broker, "events.a", { correlationId: root });
      publish(broker, "events.a", { correlationId: child, parentCorrelationId: root, rootCorrelationId: root });
      publish(broker, "events.a", { correlationId: grandchild, parentCorrelationId: child, rootCorrelationId: root });
      expect(broker.workflow(root)).toMatchObject({ orphan: false, childIds: [child], tracked: true });
      expect(broker.workflow(child).state).toMatchObject({ parentId: root, rootId: root, depth: 1 });
      expect(broker.workflow(grandchild).state).toMatchObject({ parentId: child, rootId: root, depth: 2 });
      const timeline = broker.timeline(root, 0, 0);
      expect(timeline.ids).toEqual([1, 2, 3]);
      expect(timeline.correlations.map((view) => view.state.id)).toEqual([root, child, grandchild]);
      expect(broker.stats().orphans).toBe(0);
    });

    it("should refuse a step without parent whose root is not its own id", () => {
      const { broker } = createTestBroker();
      const error = expectRefusedUnchanged(broker, { correlationId: root, rootCorrelationId: child });
      expect(error.field).toBe("correlation_metadata.root_correlation_id");
      expect(error.description).toBe(`must equal correlation_id ${root} for a step without parent_correlation_id`);
    });

    it("should refuse a child whose root differs from its parent's root", () => {
      const { broker } = createTestBroker();
      publish(broker, "events.a", { correlationId: root });
      const other = uuidFor(9);
      publish(broker, "events.a", { correlationId: other });
      const error = expectRefusedUnchanged(broker, { correlationId: child, parentCorrelationId: root, rootCorrelationId: other });
      expect(error.field).toBe("correlation_metadata.root_correlation_id");
      expect(error.description).toBe(`${other} differs from root ${root} of parent ${root}`);
      expect(() => broker.workflow(child)).toThrow(`correlation ${child} is not tracked`);
    });

    it("should refuse a child that names itself as root", () => {
      const { broker } = createTestBroker();
      publish(broker, "events.a", { correlationId: root });
      const error = expectRefusedUnchanged(broker, { correlationId: child, parentCorrelationId: root, rootCorrelationId: child });
      expect(error.field).toBe("correlation_metadata.root_correlation_id");
      expect(error.description).toBe(`a step with parent ${root} cannot be its own root`);
    });

    it("should refuse a correlation restated with another lineage", () => {
      const { broker } = createTestBroker();
      publish(broker, "events.a", { correlationId: root });
      publish(broker, "events.a", { correlationId: child, parentCorrelationId: root, rootCorrelationId: root });
      const error = expectRefusedUnchanged(broker, { correlationId: child, parentCorrelationId: uuidFor(7), rootCorrelationId: root });
      expect(error.field).toBe("correlation_metadata");
      expect(error.description).toBe(
        `correlation ${child} was first seen with parent ${root} and root ${root}; this event states parent ${uuidFor(7)} and root ${root}`,
      );
    });

    it("should cap the depth of the tree", () => {
      const { broker } = createTestBroker({ maxLineageDepth: 2 });
      publish(broker, "events.a", { correlationId: root });
      publish(broker, "events.a", { correlationId: child, parentCorrelationId: root, rootCorrelationId: root });
      publish(broker, "events.a", { correlationId: grandchild, parentCorrelationId: child, rootCorrelationId: root });
      const error = expectRefusedUnchanged(broker, { correlationId: uuidFor(4), parentCorrelationId: grandchild, rootCorrelationId: root });
      expect(error.field).toBe("correlation_metadata.parent_correlation_id");
      expect(error.description).toBe("depth 3 exceeds the limit of 2 (maxLineageDepth)");
    });

    it("should refuse a correlation that is its own parent", () => {
      const { broker } = createTestBroker();
      const error = expectRefusedUnchanged(broker, { correlationId: child, parentCorrelationId: child, rootCorrelationId: root });
      expect(error.field).toBe("correlation_metadata.parent_correlation_id");
      expect(error.description).toBe(`a correlation cannot be its own parent (cycle at ${child})`);
    });

    it("should refuse a cycle closed through an orphan", () => {
      const { broker } = createTestBroker();
      // child's parent (grandchild) is unknown: accepted as an orphan.
      publish(broker, "events.a", { correlationId: child, parentCorrelationId: grandchild, rootCorrelationId: root });
      const error = expectRefusedUnchanged(broker, { correlationId: grandchild, parentCorrelationId: child, rootCorrelationId: root });
      expect(error.field).toBe("correlation_metadata.parent_correlation_id");
      expect(error.description).toBe(`parent ${child} descends from ${grandchild}: a cycle`);
    });

    it("should refuse a longer cycle closed through a chain of orphans", () => {
      const { broker } = createTestBroker({ maxLineageDepth: 3 });
      const chain = [10, 11, 12].map(uuidFor);
      // 10 → 11 → 12, each parent unknown when published.
      publish(broker, "events.a", { correlationId: chain[0], parentCorrelationId: chain[1], rootCorrelationId: root });
      publish(broker, "events.a", { correlationId: chain[1], parentCorrelationId: chain[2], rootCorrelationId: root });
      const error = expectRefusedUnchanged(broker, { correlationId: chain[2], parentCorrelationId: chain[0], rootCorrelationId: root });
      expect(error.description).toBe(`parent ${chain[0]} descends from ${chain[2]}: a cycle`);
    });

    it("should refuse a cycle through orphans that is longer than the depth cap", () => {
      const { broker } = createTestBroker({ maxLineageDepth: 2 });
      const chain = [10, 11, 12, 13, 14].map(uuidFor);
      for (let i = 0; i < 4; i++) {
        publish(broker, "events.a", { correlationId: chain[i], parentCorrelationId: chain[i + 1], rootCorrelationId: root });
      }
      // 14 → 10 would close 10 → 11 → 12 → 13 → 14 → 10.
      const error = expectRefusedUnchanged(broker, { correlationId: chain[4], parentCorrelationId: chain[0], rootCorrelationId: root });
      expect(error.field).toBe("correlation_metadata.parent_correlation_id");
      expect(error.description).toBe(`parent ${chain[0]} has more than 2 known ancestors: depth exceeds the limit of 2 (maxLineageDepth)`);
      expect(() => broker.workflow(chain[4])).toThrow("is not tracked");
    });

    it("should accept an unknown parent and flag the child an orphan, never re-parenting it", () => {
      const { broker } = createTestBroker();
      const unknownParent = uuidFor(50);
      publish(broker, "events.a", { correlationId: child, parentCorrelationId: unknownParent, rootCorrelationId: root });
      const view = broker.workflow(child);
      expect(view.orphan).toBe(true);
      expect(view.state).toMatchObject({ parentId: unknownParent, rootId: root, depth: 1 });
      expect(broker.stats().orphans).toBe(1);
      // The timeline of its root lists it although the root never published.
      const timeline = broker.timeline(root, 0, 0);
      expect(timeline.ids).toEqual([1]);
      expect(timeline.correlations.map((c) => [c.state.id, c.orphan])).toEqual([[child, true]]);
    });

    it("should stop flagging an orphan once its parent is seen", () => {
      const { broker } = createTestBroker();
      publish(broker, "events.a", { correlationId: child, parentCorrelationId: root, rootCorrelationId: root });
      expect(broker.workflow(child).orphan).toBe(true);
      publish(broker, "events.a", { correlationId: root });
      expect(broker.workflow(child).orphan).toBe(false);
      expect(broker.workflow(root).childIds).toEqual([child]);
    });

    it("should check lineage within a batch and refuse the whole batch atomically", () => {
      const { broker } = createTestBroker();
      const results = publishBatchNow(
        broker,
        [envelope("events.a", { correlationId: root }), envelope("events.a", { correlationId: child, parentCorrelationId: root, rootCorrelationId: root })],
        unverifiedPeer,
      );
      expect(results.map((r) => r.eventId)).toEqual([1, 2]);
      const before = broker.stats();
      let error: unknown;
      try {
        publishBatchNow(
          broker,
          [
            envelope("events.a", { correlationId: uuidFor(20) }),
            envelope("events.a", { correlationId: uuidFor(21), parentCorrelationId: uuidFor(20), rootCorrelationId: root }),
          ],
          unverifiedPeer,
        );
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(LineageError);
      expect((error as LineageError).field).toBe("envelopes[1].correlation_metadata.root_correlation_id");
      expect(broker.headEventId).toBe(2);
      expect(broker.stats()).toEqual({ ...before, publishesRejected: before.publishesRejected + 2, lineageRejected: before.lineageRejected + 1 });
    });
  });

  describe("bounds", () => {
    it("should evict the least recently active correlation past maxActiveWorkflows and count it", () => {
      const { broker } = createTestBroker({ maxActiveWorkflows: 2 });
      publish(broker, "events.a", { correlationId: uuidFor(1) });
      publish(broker, "events.a", { correlationId: uuidFor(2) });
      publish(broker, "events.a", { correlationId: uuidFor(1) });
      publish(broker, "events.a", { correlationId: uuidFor(3) });
      const stats = broker.stats();
      expect([stats.workflowsActive, stats.workflowsEvicted]).toEqual([2, 1]);
      expect(broker.workflow(uuidFor(1)).tracked).toBe(true);
      // Forgotten by the tracker, rebuilt from its stored events.
      const rebuilt = broker.workflow(uuidFor(2));
      expect(rebuilt.tracked).toBe(false);
      expect(rebuilt.state.totalEvents).toBe(1);
    });

    it("should expire idle correlations on maintain() and count them", () => {
      const { broker, clock } = createTestBroker({ workflowIdleMs: 1000 });
      publish(broker, "events.a", { correlationId: uuidFor(1) });
      clock.now += 600;
      publish(broker, "events.a", { correlationId: uuidFor(2) });
      clock.now += 500;
      broker.maintain();
      let stats = broker.stats();
      expect([stats.workflowsActive, stats.workflowsExpired]).toEqual([1, 1]);
      expect(broker.workflow(uuidFor(1)).tracked).toBe(false);
      expect(broker.workflow(uuidFor(2)).tracked).toBe(true);
      clock.now += 500;
      broker.maintain();
      stats = broker.stats();
      expect([stats.workflowsActive, stats.workflowsExpired]).toEqual([0, 2]);
    });
  });
});
