import { afterEach, describe, expect, it, vi } from "vitest";
import { CapacityError } from "../../../src/core/validation/broker-errors.js";
import type { PeerIdentity } from "../../../src/core/broker-ports.js";
import type { CorrelationBroker } from "../../../src/core/correlation-broker.js";
import type { WaitOutcome } from "../../../src/core/tracking/result-waiter.js";
import type { Subscription } from "../../../src/core/routing/subscription.js";
import { createTestBroker, envelope, expectInvalidInput, type MetaInit, uuidFor, unverifiedPeer } from "../core-fixtures.js";
import { publishNow } from "../publish-now.js";

const task = uuidFor(1);

afterEach(() => {
  vi.useRealTimers();
});

/** A wait with the given condition on `task` (no expected results or sources unless given). */
function wait(
  broker: CorrelationBroker,
  condition: { expectedResults?: number; expectedSources?: string[]; topicPattern?: string; correlationId?: string } = {},
  timeoutMs = 5_000,
  signal?: AbortSignal,
): Promise<WaitOutcome> {
  return broker.waitForResults(
    {
      correlationId: condition.correlationId ?? task,
      expectedResults: condition.expectedResults ?? 0,
      expectedSources: condition.expectedSources ?? [],
      topicPattern: condition.topicPattern ?? "",
    },
    timeoutMs,
    signal,
  );
}

function publish(broker: CorrelationBroker, topic: string, meta: Partial<MetaInit> = {}, peer: PeerIdentity = unverifiedPeer) {
  return publishNow(broker, envelope(topic, { correlationId: task, ...meta }), peer).eventId;
}

function collector(broker: CorrelationBroker, name: string, queueGroup = "", peer: PeerIdentity = unverifiedPeer): Subscription {
  return broker.subscribe({ patterns: ["control.#"], queueGroup, name, statedPid: 0 }, peer);
}

/** Lets pending promise callbacks run, without waiting for any timer. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Tracks whether a promise has settled yet. */
function watch<T>(promise: Promise<T>): { done: () => boolean } {
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  return { done: () => done };
}

describe("CorrelationBroker.waitForResults", () => {
  describe("expected_results", () => {
    it("should complete when N matching results arrived, woken by the Nth", async () => {
      const { broker } = createTestBroker();
      const outcome = wait(broker, { expectedResults: 3 });
      const watched = watch(outcome);
      const ids = [publish(broker, "events.r"), publish(broker, "control.other"), publish(broker, "events.r")];
      await settle();
      expect(watched.done()).toBe(false);
      expect(broker.stats().waiters).toBe(1);
      ids.push(publish(broker, "events.r"));
      await settle();
      expect(watched.done()).toBe(true);
      expect(await outcome).toEqual({
        complete: true,
        reason: "expected_results",
        resultIds: [ids[0], ids[2], ids[3]],
        truncated: false,
        pendingSources: [],
        disconnectedSources: [],
      });
      expect(broker.stats().waiters).toBe(0);
    });

    it("should count only events matching the topic pattern", async () => {
      const { broker } = createTestBroker();
      const outcome = wait(broker, { expectedResults: 2, topicPattern: "events.scan.#" });
      publish(broker, "events.other");
      const first = publish(broker, "events.scan");
      publish(broker, "events.other");
      const second = publish(broker, "events.scan.deep");
      expect((await outcome).resultIds).toEqual([first, second]);
    });

    it("should count only events of its own correlation", async () => {
      const { broker } = createTestBroker();
      const outcome = wait(broker, { expectedResults: 1 }, 30);
      publish(broker, "events.r", { correlationId: uuidFor(2) });
      const result = await outcome;
      expect([result.complete, result.reason, result.resultIds]).toEqual([false, "deadline", []]);
    });

    it("should answer at once when called after the last result", async () => {
      const { broker } = createTestBroker();
      const ids = [publish(broker, "events.r"), publish(broker, "events.r")];
      const watched = watch(wait(broker, { expectedResults: 2 }));
      await Promise.resolve();
      expect(watched.done()).toBe(true);
      expect((await wait(broker, { expectedResults: 2 })).resultIds).toEqual(ids);
    });

    it("should combine results from history and live ones", async () => {
      const { broker } = createTestBroker();
      const before = publish(broker, "events.r");
      const outcome = wait(broker, { expectedResults: 2 });
      const after = publish(broker, "events.r");
      expect(await outcome).toMatchObject({ complete: true, resultIds: [before, after] });
    });
  });

  describe("expected_sources", () => {
    it("should complete when each named source sent a final event", async () => {
      const { broker } = createTestBroker();
      const outcome = wait(broker, { expectedSources: ["procmon", "netmon"] });
      const watched = watch(outcome);
      publish(broker, "events.r", { sourceProcess: "procmon" });
      publish(broker, "events.r", { sourceProcess: "netmon" });
      publish(broker, "events.r", { sourceProcess: "procmon", final: true });
      publish(broker, "events.r", { sourceProcess: "filemon", final: true });
      await settle();
      expect(watched.done()).toBe(false);
      publish(broker, "events.r", { sourceProcess: "netmon", final: true });
      expect(await outcome).toMatchObject({ complete: true, reason: "expected_sources", resultIds: [1, 2, 3, 4, 5] });
    });

    it("should not count a final event off the topic pattern", async () => {
      const { broker } = createTestBroker();
      publish(broker, "control.done", { sourceProcess: "procmon", final: true });
      const outcome = await wait(broker, { expectedSources: ["procmon"] }, 20);
      expect(outcome).toMatchObject({ complete: false, reason: "deadline", pendingSources: ["procmon"] });
    });

    it("should list the sources still pending at the deadline", async () => {
      const { broker } = createTestBroker();
      publish(broker, "events.r", { sourceProcess: "procmon", final: true });
      const outcome = await wait(broker, { expectedSources: ["procmon", "netmon", "filemon"] }, 30);
      expect(outcome).toEqual({
        complete: false,
        reason: "deadline",
        resultIds: [1],
        truncated: false,
        pendingSources: ["netmon", "filemon"],
        disconnectedSources: [],
      });
    });

    it("should require both the count and the sources when both are given", async () => {
      const { broker } = createTestBroker();
      const outcome = wait(broker, { expectedResults: 3, expectedSources: ["procmon"] });
      const watched = watch(outcome);
      publish(broker, "events.r", { sourceProcess: "procmon", final: true });
      await settle();
      expect(watched.done()).toBe(false);
      publish(broker, "events.r");
      publish(broker, "events.r");
      expect(await outcome).toMatchObject({ complete: true, reason: "expected_sources" });
    });
  });

  describe("delivery-tracked (default)", () => {
    it("should complete once every recipient of the task answered with a final event", async () => {
      const { broker } = createTestBroker();
      const procmon = collector(broker, "procmon");
      const netmon = collector(broker, "netmon");
      const outcome = wait(broker);
      const watched = watch(outcome);
      const taskResult = publishNow(broker, envelope("control.scan", { correlationId: task, sourceProcess: "agent" }), unverifiedPeer);
      expect(taskResult.deliveredCount).toBe(2);
      expect(ids(await procmon.next(10))).toEqual([taskResult.eventId]);
      expect(ids(await netmon.next(10))).toEqual([taskResult.eventId]);
      const r1 = publish(broker, "events.process", { sourceProcess: "procmon" });
      const r2 = publish(broker, "events.process", { sourceProcess: "procmon", final: true });
      // A final event from someone who was not delivered the task does not count.
      const r3 = publish(broker, "events.other", { sourceProcess: "bystander", final: true });
      await settle();
      expect(watched.done()).toBe(false);
      const r4 = publish(broker, "events.network", { sourceProcess: "netmon", final: true });
      expect(await outcome).toEqual({
        complete: true,
        reason: "all_recipients_answered",
        resultIds: [r1, r2, r3, r4],
        truncated: false,
        pendingSources: [],
        disconnectedSources: [],
      });
      const state = broker.workflow(task).state;
      expect([...state.deliveries.values()].map((d) => [d.subscriberName, d.state])).toEqual([
        ["procmon", "answered"],
        ["netmon", "answered"],
      ]);
      expect(state.completedAt).toBeDefined();
    });

    it("should answer at once when called after the last answer", async () => {
      const { broker } = createTestBroker();
      collector(broker, "procmon");
      publish(broker, "control.scan");
      publish(broker, "events.r", { sourceProcess: "procmon", final: true });
      const watched = watch(wait(broker));
      await Promise.resolve();
      expect(watched.done()).toBe(true);
      expect(await wait(broker)).toMatchObject({ complete: true, reason: "all_recipients_answered", resultIds: [2] });
    });

    it("should wait for the task when called before it was published", async () => {
      const { broker } = createTestBroker();
      collector(broker, "procmon");
      const outcome = wait(broker);
      const watched = watch(outcome);
      publish(broker, "events.r", { sourceProcess: "procmon", final: true });
      await settle();
      // A final before any task answers nothing.
      expect(watched.done()).toBe(false);
      publish(broker, "control.scan");
      await settle();
      expect(watched.done()).toBe(false);
      publish(broker, "events.r", { sourceProcess: "procmon", final: true });
      expect(await outcome).toMatchObject({ complete: true, reason: "all_recipients_answered" });
    });

    it("should accept an answer from the recipient's verified pid under another name", async () => {
      const { broker } = createTestBroker();
      collector(broker, "procmon", "", { verified: true, pid: 500, uid: 0, gid: 0 });
      const outcome = wait(broker);
      publish(broker, "control.scan");
      publishNow(broker, envelope("events.r", { correlationId: task, sourceProcess: "renamed", final: true }), { verified: true, pid: 500, uid: 0, gid: 0 });
      expect(await outcome).toMatchObject({ complete: true, reason: "all_recipients_answered" });
    });

    it("should not accept an answer from a merely stated pid", async () => {
      const { broker } = createTestBroker();
      broker.subscribe({ patterns: ["control.#"], queueGroup: "", name: "procmon", statedPid: 500 }, unverifiedPeer);
      publish(broker, "control.scan");
      publishNow(broker, envelope("events.r", { correlationId: task, sourceProcess: "renamed", final: true }, { pid: 500 }), unverifiedPeer);
      expect(await wait(broker, {}, 20)).toMatchObject({ complete: false, reason: "deadline", pendingSources: ["procmon"] });
    });

    it("should end incomplete naming a recipient that unsubscribed before its final event", async () => {
      const { broker } = createTestBroker();
      collector(broker, "procmon");
      const netmon = collector(broker, "netmon");
      const outcome = wait(broker);
      publish(broker, "control.scan");
      publish(broker, "events.r", { sourceProcess: "procmon", final: true });
      broker.unsubscribe(netmon);
      expect(await outcome).toEqual({
        complete: false,
        reason: "recipient_disconnected",
        resultIds: [2],
        truncated: false,
        pendingSources: [],
        disconnectedSources: ["netmon"],
      });
      expect(broker.workflow(task).state.completedAt).toBeDefined();
    });

    it("should wait for the remaining recipients before ending incomplete", async () => {
      const { broker } = createTestBroker();
      collector(broker, "procmon");
      const netmon = collector(broker, "netmon");
      const outcome = wait(broker);
      const watched = watch(outcome);
      publish(broker, "control.scan");
      broker.unsubscribe(netmon);
      await settle();
      expect(watched.done()).toBe(false);
      publish(broker, "events.r", { sourceProcess: "procmon", final: true });
      expect(await outcome).toMatchObject({ complete: false, reason: "recipient_disconnected", disconnectedSources: ["netmon"] });
    });

    it("should treat a recipient cut off for overflow as disconnected", async () => {
      const { broker } = createTestBroker({ subscriberQueueEvents: 1 });
      collector(broker, "slow");
      const outcome = wait(broker);
      publish(broker, "control.scan");
      publish(broker, "control.more", { correlationId: uuidFor(9) });
      expect(broker.stats().subscribersCutOff).toBe(1);
      expect(await outcome).toMatchObject({ complete: false, reason: "recipient_disconnected", disconnectedSources: ["slow"] });
    });

    it("should end with no_recipients when the task reached nobody", async () => {
      const { broker } = createTestBroker();
      broker.subscribe({ patterns: ["events.#"], queueGroup: "", name: "listener", statedPid: 0 }, unverifiedPeer);
      const outcome = wait(broker);
      const result = publishNow(broker, envelope("control.scan", { correlationId: task }), unverifiedPeer);
      expect(result.deliveredCount).toBe(0);
      expect(await outcome).toEqual({
        complete: false,
        reason: "no_recipients",
        resultIds: [],
        truncated: false,
        pendingSources: [],
        disconnectedSources: [],
      });
    });

    it("should end at the deadline listing the recipients still pending", async () => {
      const { broker } = createTestBroker();
      collector(broker, "procmon");
      collector(broker, "netmon");
      collector(broker, "filemon");
      publish(broker, "control.scan");
      publish(broker, "events.r", { sourceProcess: "procmon", final: true });
      vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
      const waiting = wait(broker, {}, 40);
      const watched = watch(waiting);
      // Not a millisecond before its timeout.
      vi.advanceTimersByTime(39);
      await settle();
      expect(watched.done()).toBe(false);
      vi.advanceTimersByTime(1);
      const outcome = await waiting;
      expect(outcome).toEqual({
        complete: false,
        reason: "deadline",
        resultIds: [2],
        truncated: false,
        pendingSources: ["netmon", "filemon"],
        disconnectedSources: [],
      });
      expect(broker.stats().waiters).toBe(0);
    });

    it("should count only the picked member of a queue group", async () => {
      const { broker } = createTestBroker();
      const w1 = collector(broker, "worker-1", "workers");
      const w2 = collector(broker, "worker-2", "workers");
      collector(broker, "auditor");
      const outcome = wait(broker);
      const watched = watch(outcome);
      expect(publishNow(broker, envelope("control.scan", { correlationId: task }), unverifiedPeer).deliveredCount).toBe(2);
      const picked = w1.queued === 1 ? "worker-1" : "worker-2";
      expect(w1.queued + w2.queued).toBe(1);
      const deliveries = [...broker.workflow(task).state.deliveries.values()].map((d) => [d.subscriberName, d.queueGroup]);
      expect(deliveries.sort()).toEqual(
        [
          ["auditor", ""],
          [picked, "workers"],
        ].sort(),
      );
      publish(broker, "events.r", { sourceProcess: "auditor", final: true });
      await settle();
      expect(watched.done()).toBe(false);
      publish(broker, "events.r", { sourceProcess: picked, final: true });
      expect(await outcome).toMatchObject({ complete: true, reason: "all_recipients_answered" });
    });

    it("should not be disturbed when the member that was not picked leaves", async () => {
      const { broker } = createTestBroker();
      const w1 = collector(broker, "worker-1", "workers");
      const w2 = collector(broker, "worker-2", "workers");
      const outcome = wait(broker);
      publish(broker, "control.scan");
      const [picked, other] = w1.queued === 1 ? ["worker-1", w2] : ["worker-2", w1];
      broker.unsubscribe(other);
      publish(broker, "events.r", { sourceProcess: picked, final: true });
      expect(await outcome).toMatchObject({ complete: true, reason: "all_recipients_answered" });
    });

    it("should wait again when a new task goes out after completion", async () => {
      const { broker } = createTestBroker();
      collector(broker, "procmon");
      publish(broker, "control.scan");
      publish(broker, "events.r", { sourceProcess: "procmon", final: true });
      publish(broker, "control.scan2");
      const outcome = await wait(broker, {}, 20);
      expect(outcome).toMatchObject({ complete: false, reason: "deadline", pendingSources: ["procmon"] });
    });
  });

  describe("ending early", () => {
    it("should answer the deadline outcome when the signal aborts", async () => {
      const { broker } = createTestBroker();
      const controller = new AbortController();
      const outcome = wait(broker, { expectedResults: 5 }, 5_000, controller.signal);
      publish(broker, "events.r");
      controller.abort();
      expect(await outcome).toMatchObject({ complete: false, reason: "deadline", resultIds: [1] });
      expect(broker.stats().waiters).toBe(0);
    });

    it("should finish every waiter on close", async () => {
      const { broker } = createTestBroker();
      const outcomes = [wait(broker, { expectedResults: 1 }), wait(broker, { expectedSources: ["x"], correlationId: uuidFor(2) })];
      expect(broker.stats().waiters).toBe(2);
      broker.close();
      const results = await Promise.all(outcomes);
      expect(results.map((r) => r.reason)).toEqual(["deadline", "deadline"]);
      expect(broker.stats().waiters).toBe(0);
    });
  });

  describe("input", () => {
    it("should refuse a correlation id that is not a UUID", () => {
      const { broker } = createTestBroker();
      const error = expectInvalidInput(() => wait(broker, { correlationId: "task-1" }));
      expect([error.field, error.description]).toEqual(["correlation_id", '"task-1" is not a UUID in canonical form (8-4-4-4-12 lowercase hex digits)']);
      const empty = expectInvalidInput(() => wait(broker, { correlationId: "" }));
      expect([empty.field, empty.description]).toEqual(["correlation_id", "must be set to a UUID"]);
    });

    it("should refuse an empty or overlong expected source", () => {
      const { broker } = createTestBroker({ maxNameBytes: 8 });
      const empty = expectInvalidInput(() => wait(broker, { expectedSources: ["a", ""] }));
      expect([empty.field, empty.description]).toEqual(["expected_sources[1]", "must not be empty"]);
      const long = expectInvalidInput(() => wait(broker, { expectedSources: ["procmon-1"] }));
      expect([long.field, long.description]).toEqual(["expected_sources[0]", "9 bytes exceeds the limit of 8"]);
    });

    it("should refuse a timeout over maxWaitMs and a bad topic pattern", () => {
      const { broker } = createTestBroker({ maxWaitMs: 1000 });
      const timeout = expectInvalidInput(() => wait(broker, {}, 1001));
      expect([timeout.field, timeout.description]).toEqual(["timeout", "1001 ms exceeds the limit of 1000 ms (maxWaitMs)"]);
      const pattern = expectInvalidInput(() => wait(broker, { topicPattern: "results.#" }));
      expect(pattern.field).toBe("topic_pattern");
      expect(broker.stats().waiters).toBe(0);
    });

    it("should refuse more waiters than maxWaiters with a CapacityError", async () => {
      const { broker } = createTestBroker({ maxWaiters: 1 });
      const first = wait(broker, { expectedResults: 1 });
      expect(() => wait(broker, { expectedResults: 1 })).toThrow(CapacityError);
      expect(() => wait(broker, { expectedResults: 1 })).toThrow("1 waiters reached the limit of 1 (maxWaiters)");
      publish(broker, "events.r");
      await first;
      await expect(wait(broker, { expectedResults: 1 })).resolves.toMatchObject({ complete: true });
    });
  });
});

function ids(events: { eventId: bigint }[] | undefined): number[] {
  return (events ?? []).map((event) => Number(event.eventId));
}
