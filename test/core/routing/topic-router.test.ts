import { create } from "@bufbuild/protobuf";
import { beforeEach, describe, expect, it } from "vitest";
import { type EventEnvelope, EventEnvelopeSchema } from "../../../gen/corrbus/v1/envelope_pb.js";
import { type ReplaySource, SubscriberCutOffError, Subscription } from "../../../src/core/routing/subscription.js";
import { parseTopicPattern } from "../../../src/core/routing/topic-pattern.js";
import { TopicRouter } from "../../../src/core/routing/topic-router.js";

const noHistory: ReplaySource = {
  firstId: () => 0,
  lastId: () => 0,
  read: (fromId) => ({ events: [], nextId: fromId }),
};

let nextId = 1;
let nextEventId = 1;

function subscriber(name: string, patterns: string[], queueGroup = "", capacity = 100): Subscription {
  return new Subscription(
    nextId++,
    { patterns: patterns.map((text) => parseTopicPattern(text)), queueGroup, name, pid: 100 + nextId, pidVerified: false },
    capacity,
    noHistory,
  );
}

function event(topic: string): EventEnvelope {
  return create(EventEnvelopeSchema, { topic, eventId: BigInt(nextEventId++) });
}

function names(subscriptions: Subscription[]): string[] {
  return subscriptions.map((subscription) => subscription.options.name);
}

describe("TopicRouter", () => {
  let cutOff: Subscription[];
  let router: TopicRouter;

  beforeEach(() => {
    cutOff = [];
    router = new TopicRouter((subscription) => cutOff.push(subscription));
  });

  describe("plain subscribers", () => {
    it("should deliver every matching event to every matching subscriber", () => {
      const all = subscriber("all", ["events.#"]);
      const process = subscriber("process", ["events.process.+"]);
      const control = subscriber("control", ["control.#"]);
      [all, process, control].forEach((s) => router.add(s));
      expect(names(router.route(event("events.process.started")))).toEqual(["all", "process"]);
      expect(names(router.route(event("events.file.opened")))).toEqual(["all"]);
      expect(names(router.route(event("control.scan")))).toEqual(["control"]);
      expect(names(router.route(event("control")))).toEqual(["control"]);
      expect(all.queued).toBe(2);
      expect(process.queued).toBe(1);
      expect(control.queued).toBe(2);
      expect(router.delivered).toBe(5);
    });

    it("should deliver nothing to a removed subscriber", () => {
      const a = subscriber("a", ["events.#"]);
      router.add(a);
      router.remove(a);
      expect(router.route(event("events.x"))).toEqual([]);
      expect(router.subscriberCount).toBe(0);
      expect(router.delivered).toBe(0);
    });

    it("should drop a subscriber its reader closed without counting a cut-off", () => {
      const a = subscriber("a", ["events.#"]);
      router.add(a);
      a.close();
      expect(router.route(event("events.x"))).toEqual([]);
      expect(router.subscriberCount).toBe(0);
      expect(router.cutOffs).toBe(0);
      expect(cutOff).toEqual([]);
    });

    it("should cut off a full subscriber and keep delivering to the others", async () => {
      const slow = subscriber("slow", ["events.#"], "", 2);
      const fast = subscriber("fast", ["events.#"], "", 100);
      router.add(slow);
      router.add(fast);
      router.route(event("events.x"));
      router.route(event("events.x"));
      expect(names(router.route(event("events.x")))).toEqual(["fast"]);
      expect(router.cutOffs).toBe(1);
      expect(router.dropped).toBe(3);
      expect(cutOff).toEqual([slow]);
      expect(router.subscriberCount).toBe(1);
      await expect(slow.next(10)).rejects.toBeInstanceOf(SubscriberCutOffError);
      expect(fast.queued).toBe(3);
    });
  });

  describe("queue groups", () => {
    it("should give each event to exactly one member, round-robin", () => {
      const members = ["m1", "m2", "m3"].map((name) => subscriber(name, ["events.task.#"], "workers"));
      members.forEach((m) => router.add(m));
      const picked: string[] = [];
      for (let i = 0; i < 9; i++) {
        const recipients = router.route(event("events.task.run"));
        expect(recipients).toHaveLength(1);
        picked.push(...names(recipients));
      }
      expect(picked).toEqual(["m1", "m2", "m3", "m1", "m2", "m3", "m1", "m2", "m3"]);
      expect(members.map((m) => m.queued)).toEqual([3, 3, 3]);
      expect(router.delivered).toBe(9);
    });

    it("should deliver to plain subscribers and to one member of each group", () => {
      const plain = subscriber("plain", ["events.#"]);
      const a1 = subscriber("a1", ["events.#"], "a");
      const a2 = subscriber("a2", ["events.#"], "a");
      const b1 = subscriber("b1", ["events.#"], "b");
      [plain, a1, a2, b1].forEach((s) => router.add(s));
      expect(names(router.route(event("events.x"))).sort()).toEqual(["a1", "b1", "plain"]);
      expect(names(router.route(event("events.x"))).sort()).toEqual(["a2", "b1", "plain"]);
      expect(router.delivered).toBe(6);
      expect(router.subscriberCount).toBe(4);
    });

    it("should skip a group whose patterns do not match", () => {
      const w = subscriber("w", ["control.#"], "workers");
      router.add(w);
      expect(router.route(event("events.x"))).toEqual([]);
      expect(w.queued).toBe(0);
    });

    it("should treat the same group name with other patterns as another group", () => {
      const a = subscriber("a", ["events.#"], "workers");
      const b = subscriber("b", ["events.+"], "workers");
      router.add(a);
      router.add(b);
      expect(names(router.route(event("events.x"))).sort()).toEqual(["a", "b"]);
    });

    it("should continue the rotation correctly when members leave", () => {
      const [m1, m2, m3, m4] = ["m1", "m2", "m3", "m4"].map((name) => subscriber(name, ["events.#"], "g"));
      [m1, m2, m3, m4].forEach((m) => router.add(m));
      expect(names(router.route(event("events.x")))).toEqual(["m1"]);
      expect(names(router.route(event("events.x")))).toEqual(["m2"]);
      // m1 (before the cursor) leaves: m3 is still next.
      router.remove(m1);
      expect(names(router.route(event("events.x")))).toEqual(["m3"]);
      // m4 (the next one) leaves: the rotation wraps to m2.
      router.remove(m4);
      expect(names(router.route(event("events.x")))).toEqual(["m2"]);
      expect(names(router.route(event("events.x")))).toEqual(["m3"]);
      router.remove(m2);
      router.remove(m3);
      expect(router.route(event("events.x"))).toEqual([]);
      expect(router.subscriberCount).toBe(0);
      // A new member of the same group starts afresh.
      const m5 = subscriber("m5", ["events.#"], "g");
      router.add(m5);
      expect(names(router.route(event("events.x")))).toEqual(["m5"]);
    });

    it("should cut off a full member and give the event to the next member", async () => {
      const full = subscriber("full", ["events.#"], "g", 1);
      const spare = subscriber("spare", ["events.#"], "g", 100);
      router.add(full);
      router.add(spare);
      expect(names(router.route(event("events.x")))).toEqual(["full"]);
      expect(names(router.route(event("events.x")))).toEqual(["spare"]);
      // full's turn again, but its queue holds 1 of 1: cut off, spare gets it.
      const third = event("events.x");
      expect(names(router.route(third))).toEqual(["spare"]);
      expect(cutOff).toEqual([full]);
      expect(router.cutOffs).toBe(1);
      expect(router.dropped).toBe(2);
      expect(router.subscriberCount).toBe(1);
      await expect(full.next(10)).rejects.toBeInstanceOf(SubscriberCutOffError);
      const spareEvents = await spare.next(10);
      expect(spareEvents?.map((e) => e.eventId)).toEqual([third.eventId - 1n, third.eventId]);
      // Only spare is left; it gets everything.
      expect(names(router.route(event("events.x")))).toEqual(["spare"]);
      expect(router.delivered).toBe(4);
    });

    it("should deliver to nobody when every member is full, cutting all off", () => {
      const a = subscriber("a", ["events.#"], "g", 1);
      const b = subscriber("b", ["events.#"], "g", 1);
      router.add(a);
      router.add(b);
      router.route(event("events.x"));
      router.route(event("events.x"));
      expect(router.route(event("events.x"))).toEqual([]);
      expect(cutOff).toEqual([a, b]);
      expect(router.subscriberCount).toBe(0);
      expect(router.dropped).toBe(4);
    });

    it("should skip a member its reader closed and give the event to the next", () => {
      const a = subscriber("a", ["events.#"], "g");
      const b = subscriber("b", ["events.#"], "g");
      router.add(a);
      router.add(b);
      a.close();
      expect(names(router.route(event("events.x")))).toEqual(["b"]);
      expect(names(router.route(event("events.x")))).toEqual(["b"]);
      expect(router.cutOffs).toBe(0);
      expect(router.subscriberCount).toBe(1);
    });
  });
});
