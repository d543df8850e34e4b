import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { type EventEnvelope, EventEnvelopeSchema } from "../../../gen/corrbus/v1/envelope_pb.js";
import { type ReplaySource, SubscriberCutOffError, Subscription } from "../../../src/core/routing/subscription.js";
import { parseTopicPattern } from "../../../src/core/routing/topic-pattern.js";
import { createTestBroker, envelope, unverifiedPeer } from "../core-fixtures.js";
import { publishNow } from "../publish-now.js";

const noHistory: ReplaySource = {
  firstId: () => 0,
  lastId: () => 0,
  read: (fromId) => ({ events: [], nextId: fromId }),
};

function liveSubscription(patterns: string[], capacity: number): Subscription {
  return new Subscription(
    1,
    { patterns: patterns.map((text) => parseTopicPattern(text)), queueGroup: "", name: "reader", pid: 7, pidVerified: false },
    capacity,
    noHistory,
  );
}

function stamped(id: number, topic = "events.x"): EventEnvelope {
  return create(EventEnvelopeSchema, { topic, eventId: BigInt(id) });
}

function ids(events: EventEnvelope[] | undefined): number[] {
  return (events ?? []).map((event) => Number(event.eventId));
}

describe("Subscription", () => {
  describe("matches", () => {
    it("should match a topic matching any of its patterns", () => {
      const subscription = liveSubscription(["events.process.#", "control.+"], 4);
      expect(subscription.matches("events.process.started")).toBe(true);
      expect(subscription.matches("control.scan")).toBe(true);
      expect(subscription.matches("control.scan.deep")).toBe(false);
      expect(subscription.matches("events.network")).toBe(false);
    });
  });

  describe("live delivery", () => {
    it("should hand over offered events in order, at most max per call", async () => {
      const subscription = liveSubscription(["events.#"], 10);
      for (let id = 1; id <= 5; id++) expect(subscription.offer(stamped(id))).toBe(true);
      expect(subscription.queued).toBe(5);
      expect(ids(await subscription.next(3))).toEqual([1, 2, 3]);
      expect(ids(await subscription.next(3))).toEqual([4, 5]);
      expect(subscription.queued).toBe(0);
    });

    it("should wake a waiting reader when an event is offered", async () => {
      const subscription = liveSubscription(["events.#"], 10);
      const waiting = subscription.next(10);
      subscription.offer(stamped(9));
      expect(ids(await waiting)).toEqual([9]);
    });

    it("should answer undefined to a waiting reader once closed normally", async () => {
      const subscription = liveSubscription(["events.#"], 10);
      const waiting = subscription.next(10);
      expect(subscription.close()).toBe(0);
      await expect(waiting).resolves.toBeUndefined();
      expect(subscription.closed).toBe(true);
      expect(subscription.offer(stamped(1))).toBe(false);
    });
  });

  describe("cut-off", () => {
    it("should refuse an offer when the queue is full and keep the queue as it was", () => {
      const subscription = liveSubscription(["events.#"], 2);
      expect(subscription.offer(stamped(1))).toBe(true);
      expect(subscription.offer(stamped(2))).toBe(true);
      expect(subscription.offer(stamped(3))).toBe(false);
      expect(subscription.queued).toBe(2);
    });

    it("should name the limit and the resume point in the overflow error", async () => {
      const subscription = liveSubscription(["events.#"], 2);
      subscription.offer(stamped(1));
      subscription.offer(stamped(2));
      await subscription.next(10);
      const error = subscription.overflowError();
      expect(error).toBeInstanceOf(SubscriberCutOffError);
      expect(error.lastDeliveredId).toBe(2);
      expect(error.message).toBe("subscriber queue full: 2 events waiting (limit subscriberQueueEvents); resume with from_event_id 3");
    });

    it("should drop queued events and throw the cut-off error from next()", async () => {
      const subscription = liveSubscription(["events.#"], 2);
      subscription.offer(stamped(1));
      subscription.offer(stamped(2));
      const error = subscription.overflowError();
      expect(subscription.close(error)).toBe(2);
      await expect(subscription.next(10)).rejects.toBe(error);
      // It stays cut off.
      await expect(subscription.next(10)).rejects.toBeInstanceOf(SubscriberCutOffError);
      expect(subscription.close()).toBe(0);
    });
  });

  describe("through the broker", () => {
    it("should cut off a subscriber whose queue overflows, count it and let it resume by replay", async () => {
      const { broker } = createTestBroker({ subscriberQueueEvents: 2 });
      const slow = broker.subscribe({ patterns: ["events.#"], queueGroup: "", name: "slow", statedPid: 1 }, unverifiedPeer);
      const other = broker.subscribe({ patterns: ["events.#"], queueGroup: "", name: "other", statedPid: 2 }, unverifiedPeer);
      publishNow(broker, envelope("events.a"), unverifiedPeer);
      expect(ids(await slow.next(10))).toEqual([1]);
      expect(ids(await other.next(10))).toEqual([1]);
      publishNow(broker, envelope("events.a"), unverifiedPeer);
      publishNow(broker, envelope("events.a"), unverifiedPeer);
      expect(ids(await other.next(10))).toEqual([2, 3]);
      const fourth = publishNow(broker, envelope("events.a"), unverifiedPeer);

      // The slow one was cut off on the 4th event; the other still got it.
      expect(fourth.deliveredCount).toBe(1);
      expect(ids(await other.next(10))).toEqual([4]);
      const error = await slow.next(10).then(
        () => undefined,
        (reason: unknown) => reason,
      );
      expect(error).toBeInstanceOf(SubscriberCutOffError);
      expect((error as SubscriberCutOffError).lastDeliveredId).toBe(1);
      expect((error as SubscriberCutOffError).message).toContain("resume with from_event_id 2");
      const stats = broker.stats();
      expect(stats.subscribersCutOff).toBe(1);
      expect(stats.eventsDropped).toBe(3);
      expect(stats.subscribers).toBe(1);
      expect(stats.eventsDelivered).toBe(1 + 1 + 2 + 2 + 1);

      const resumed = broker.subscribe(
        { patterns: ["events.#"], queueGroup: "", name: "slow", statedPid: 1, fromEventId: (error as SubscriberCutOffError).lastDeliveredId + 1 },
        unverifiedPeer,
      );
      expect(ids(await resumed.next(10))).toEqual([2, 3, 4]);
      broker.unsubscribe(resumed);
      broker.unsubscribe(other);
    });

    it("should switch from replay to live without a gap or a duplicate", async () => {
      const { broker } = createTestBroker({ subscriberQueueEvents: 100 });
      const topics = ["events.a", "events.b", "events.a", "events.a", "events.b", "events.a"];
      for (const topic of topics) publishNow(broker, envelope(topic), unverifiedPeer);
      const subscription = broker.subscribe({ patterns: ["events.a"], queueGroup: "", name: "late", statedPid: 3, fromEventId: 2 }, unverifiedPeer);
      expect(subscription.replaying).toBe(true);
      const seen: number[] = [];
      seen.push(...ids(await subscription.next(1)));
      // Published while the subscriber is still replaying: read from history, not queued.
      const during = publishNow(broker, envelope("events.a"), unverifiedPeer);
      expect(during.deliveredCount).toBe(1);
      expect(subscription.queued).toBe(0);
      publishNow(broker, envelope("events.b"), unverifiedPeer);
      publishNow(broker, envelope("events.a"), unverifiedPeer);
      while (subscription.replaying) seen.push(...ids(await subscription.next(2)));
      // Now live: new events go through the queue.
      publishNow(broker, envelope("events.a"), unverifiedPeer);
      publishNow(broker, envelope("events.b"), unverifiedPeer);
      publishNow(broker, envelope("events.a"), unverifiedPeer);
      expect(subscription.queued).toBe(2);
      while (subscription.queued > 0) seen.push(...ids(await subscription.next(10)));

      const expected: number[] = [];
      for (let id = 2; id <= broker.headEventId; id++) {
        if (broker.event(id)?.topic === "events.a") expected.push(id);
      }
      expect(seen).toEqual(expected);
      expect(expected).toEqual([3, 4, 6, 7, 9, 10, 12]);
      broker.unsubscribe(subscription);
    });

    it("should not skip the newest event when a replay step ends just before it", async () => {
      const { broker } = createTestBroker();
      for (let i = 0; i < 5; i++) publishNow(broker, envelope("events.a"), unverifiedPeer);
      const subscription = broker.subscribe({ patterns: ["events.#"], queueGroup: "", name: "", statedPid: 3, fromEventId: 1 }, unverifiedPeer);
      expect(ids(await subscription.next(4))).toEqual([1, 2, 3, 4]);
      expect(subscription.replaying).toBe(true);
      expect(ids(await subscription.next(4))).toEqual([5]);
      expect(subscription.replaying).toBe(false);
      publishNow(broker, envelope("events.a"), unverifiedPeer);
      expect(ids(await subscription.next(4))).toEqual([6]);
    });

    it("should go live at once when the replay point is past the newest event", async () => {
      const { broker } = createTestBroker();
      publishNow(broker, envelope("events.a"), unverifiedPeer);
      const subscription = broker.subscribe({ patterns: ["events.#"], queueGroup: "", name: "", statedPid: 3, fromEventId: 2 }, unverifiedPeer);
      const waiting = subscription.next(10);
      publishNow(broker, envelope("events.a"), unverifiedPeer);
      expect(ids(await waiting)).toEqual([2]);
      expect(subscription.replaying).toBe(false);
    });

    it("should replay from a receive time", async () => {
      const { broker, clock } = createTestBroker();
      publishNow(broker, envelope("events.a"), unverifiedPeer);
      clock.now += 1000;
      const since = clock.now;
      publishNow(broker, envelope("events.a"), unverifiedPeer);
      publishNow(broker, envelope("events.a"), unverifiedPeer);
      const subscription = broker.subscribe({ patterns: ["events.#"], queueGroup: "", name: "", statedPid: 3, fromTimeMs: since }, unverifiedPeer);
      expect(ids(await subscription.next(10))).toEqual([2, 3]);
    });

    it("should cut off a replay that falls behind history eviction", async () => {
      const { broker } = createTestBroker({ historyMaxEvents: 4 });
      for (let i = 0; i < 4; i++) publishNow(broker, envelope("events.a"), unverifiedPeer);
      const subscription = broker.subscribe({ patterns: ["events.#"], queueGroup: "", name: "", statedPid: 3, fromEventId: 1 }, unverifiedPeer);
      expect(ids(await subscription.next(2))).toEqual([1, 2]);
      for (let i = 0; i < 4; i++) publishNow(broker, envelope("events.a"), unverifiedPeer);
      const error = await subscription.next(2).then(
        () => undefined,
        (reason: unknown) => reason,
      );
      expect(error).toBeInstanceOf(SubscriberCutOffError);
      expect((error as SubscriberCutOffError).message).toBe("replay fell behind history eviction: events 3..4 were evicted before they were read");
      expect((error as SubscriberCutOffError).lastDeliveredId).toBe(2);
    });
  });
});
