import { fromBinary, toBinary, toJson } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { EventEnvelopeSchema } from "../../gen/corrbus/v1/envelope_pb.js";
import { encodingOf, rememberReceived } from "../../src/wire/encoded-events.js";
import { CapacityError, PermissionDeniedError } from "../../src/core/validation/broker-errors.js";
import { CorrelationBroker } from "../../src/core/correlation-broker.js";
import { createTestBroker, envelope, uuidFor, unverifiedPeer } from "./core-fixtures.js";
import { publishNow } from "./publish-now.js";

const root = uuidFor(1);
const childA = uuidFor(2);
const childB = uuidFor(3);
const grandchild = uuidFor(4);
const orphan = uuidFor(5);

describe("CorrelationBroker", () => {
  describe("publish", () => {
    it("should route the stamped event to matching subscribers and answer how many got it", async () => {
      const { broker } = createTestBroker();
      const all = broker.subscribe({ patterns: ["events.#"], queueGroup: "", name: "all", statedPid: 0 }, unverifiedPeer);
      const control = broker.subscribe({ patterns: ["control.#"], queueGroup: "", name: "ctl", statedPid: 0 }, unverifiedPeer);
      const result = publishNow(broker, envelope("events.process.started", undefined, { pid: 31 }), unverifiedPeer);
      expect(result.deliveredCount).toBe(1);
      const [event] = (await all.next(10)) ?? [];
      expect(event.eventId).toBe(BigInt(result.eventId));
      expect(event.publisher?.pid).toBe(31);
      expect(event.receivedAt).toBeDefined();
      expect(control.queued).toBe(0);
    });

    it("should stamp a copy, leaving the caller's message as it was but keeping the bytes it was received as", async () => {
      const { broker } = createTestBroker();
      // Field 999 (varint 7), unknown to the schema: only the received bytes hold it, the decoded message drops it.
      const received = new Uint8Array([...toBinary(EventEnvelopeSchema, envelope("events.a", { correlationId: root })), 0xb8, 0x3e, 0x07]);
      const event = rememberReceived(fromBinary(EventEnvelopeSchema, received, { readUnknownFields: false }), received);
      const [result] = await broker.submit([event], unverifiedPeer, false);
      expect([event.eventId, event.receivedAt, event.publisher]).toEqual([0n, undefined, undefined]);
      const stored = fromBinary(EventEnvelopeSchema, broker.eventBytes(result.eventId) as Uint8Array);
      expect(stored.eventId).toBe(BigInt(result.eventId));
      expect(stored.$unknown?.map((field) => field.no)).toEqual([999]);
    });

    it("should store and route an event without correlation but track nothing", () => {
      const { broker } = createTestBroker();
      publishNow(broker, envelope("control.scan"), unverifiedPeer);
      const stats = broker.stats();
      expect([stats.eventsStored, stats.workflowsActive]).toEqual([1, 0]);
    });

    it("should assign event ids exactly up to 2^53-1 and then refuse publishes (RESOURCE_EXHAUSTED), never rounding one", () => {
      const { broker } = createTestBroker();
      broker.continueAfter(Number.MAX_SAFE_INTEGER - 1);
      const last = publishNow(broker, envelope("events.a"), unverifiedPeer);
      expect(last.eventId).toBe(Number.MAX_SAFE_INTEGER);
      expect(fromBinary(EventEnvelopeSchema, broker.eventBytes(last.eventId) as Uint8Array).eventId).toBe(2n ** 53n - 1n);
      expect(() => publishNow(broker, envelope("events.a"), unverifiedPeer)).toThrow(
        new CapacityError(`event ids are used up: ${Number.MAX_SAFE_INTEGER} is assigned and the largest event id is ${Number.MAX_SAFE_INTEGER} (2^53-1)`),
      );
      expect(broker.stats()).toMatchObject({ eventsPublished: 1, publishesRejected: 1, lastEventId: Number.MAX_SAFE_INTEGER });
    });

    it("should keep counters for published, stored, delivered and subscribers", () => {
      const { broker, clock } = createTestBroker({ historyMaxEvents: 3 });
      const startedAt = clock.now;
      const a = broker.subscribe({ patterns: ["events.#"], queueGroup: "", name: "a", statedPid: 0 }, unverifiedPeer);
      broker.subscribe({ patterns: ["events.#"], queueGroup: "g", name: "b", statedPid: 0 }, unverifiedPeer);
      broker.subscribe({ patterns: ["events.#"], queueGroup: "g", name: "c", statedPid: 0 }, unverifiedPeer);
      clock.now += 5;
      for (let i = 0; i < 5; i++) publishNow(broker, envelope("events.a", { correlationId: uuidFor(10 + i) }), unverifiedPeer);
      broker.unsubscribe(a);
      expect(broker.stats()).toMatchObject({
        eventsPublished: 5,
        eventsStored: 3,
        eventsEvicted: 2,
        historyMaxEvents: 3,
        eventsDelivered: 10,
        subscribers: 2,
        subscribersCutOff: 0,
        eventsDropped: 0,
        publishesRejected: 0,
        workflowsActive: 5,
        lastEventId: 5,
        startedAtMs: startedAt,
      });
    });
  });

  describe("replay", () => {
    it("should replay, when asked for encodings only, each event's event_id and the same stamped bytes a whole replay carries", async () => {
      const { broker } = createTestBroker();
      for (let index = 0; index < 20; index++) {
        publishNow(broker, envelope(`events.replay.${index % 2}`, index % 3 === 0 ? { correlationId: root } : undefined, { pid: index }), unverifiedPeer);
      }
      const read = async (encodedOnly: boolean) => {
        const subscription = broker.subscribe(
          { patterns: ["events.replay.1"], queueGroup: "", name: "r", statedPid: 0, fromEventId: 1, encodedOnly },
          unverifiedPeer,
        );
        const events = (await subscription.next(100)) ?? [];
        broker.unsubscribe(subscription);
        return events;
      };
      const whole = await read(false);
      const encoded = await read(true);
      expect(encoded.map((event) => event.eventId)).toEqual(whole.map((event) => event.eventId));
      expect(encoded).toHaveLength(10);
      for (const [index, event] of encoded.entries()) {
        const bytes = encodingOf(event) as Uint8Array;
        expect(Buffer.from(bytes)).toEqual(Buffer.from(encodingOf(whole[index]) as Uint8Array));
        // The bytes decode to the whole event: nothing is lost by not decoding them here.
        expect(toJson(EventEnvelopeSchema, fromBinary(EventEnvelopeSchema, bytes))).toEqual(toJson(EventEnvelopeSchema, whole[index]));
        expect(event.topic).toBe("");
      }
    });
  });

  describe("access to control.#", () => {
    const outsider = { verified: true, pid: 77, uid: 1234, gid: 1234 };
    const own = { verified: true, pid: 78, uid: 0, gid: 0 };

    it("should refuse control and control.* (both matched by control.#) to a uid not permitted, tell the policy, and store nothing", () => {
      const denials: unknown[] = [];
      const broker = new CorrelationBroker({}, () => 1_700_000_000_000, undefined, { controlUids: [0], onDenied: (denial) => denials.push(denial) });
      const watcher = broker.subscribe({ patterns: ["control.#"], queueGroup: "", name: "w", statedPid: 0 }, own);
      for (const topic of ["control", "control.task", "control.a.b"]) {
        expect(() => publishNow(broker, envelope(topic), outsider)).toThrow(
          new PermissionDeniedError(`uid 1234 may not publish to control.# ("${topic}"); permitted uids: 0 (--control-uid)`),
        );
      }
      expect(denials).toEqual(["control", "control.task", "control.a.b"].map((topic) => ({ uid: 1234, pid: 77, topic })));
      // Topics that only start with the letters are not control topics; the permitted uid may publish anywhere.
      expect(publishNow(broker, envelope("events.control"), outsider).eventId).toBe(1);
      expect(publishNow(broker, envelope("control"), own).deliveredCount).toBe(1);
      expect(broker.stats()).toMatchObject({ eventsStored: 2, permissionDenied: 3, publishesRejected: 3 });
      expect(watcher.queued).toBe(1);
    });

    it("should track an event on the bare topic control as a task (its recipients are deliveries)", () => {
      const { broker } = createTestBroker();
      broker.subscribe({ patterns: ["control.#"], queueGroup: "", name: "collector", statedPid: 0 }, unverifiedPeer);
      publishNow(broker, envelope("control", { correlationId: root }), unverifiedPeer);
      const state = broker.workflow(root).state;
      expect([state.tasks, [...state.deliveries.values()].map((delivery) => [delivery.subscriberName, delivery.state])]).toEqual([
        1,
        [["collector", "pending"]],
      ]);
    });
  });

  describe("timeline", () => {
    function family() {
      const test = createTestBroker();
      const { broker, clock } = test;
      const publish = (correlationId: string, parentCorrelationId?: string, stage = "") => {
        clock.now += 1;
        return publishNow(broker, envelope("events.a", { correlationId, parentCorrelationId, rootCorrelationId: root, workflowStage: stage }), unverifiedPeer)
          .eventId;
      };
      publish(root, undefined, "enumeration");
      publish(childA, root, "integrity");
      publish(orphan, uuidFor(99), "network");
      publish(childB, root, "integrity");
      publish(grandchild, childA, "network");
      publish(childA, root, "integrity");
      return test;
    }

    it("should list every event under the root in id order", () => {
      const { broker } = family();
      expect(broker.timeline(root, 0, 0)).toMatchObject({ ids: [1, 2, 3, 4, 5, 6], truncated: false });
      expect(broker.timeline(root, 4, 0).ids).toEqual([5, 6]);
    });

    it("should order correlations parents first, orphans last", () => {
      const { broker } = family();
      const views = broker.timeline(root, 0, 0).correlations;
      const order = views.map((view) => view.state.id);
      expect(order[0]).toBe(root);
      expect(order.indexOf(grandchild)).toBeGreaterThan(order.indexOf(childA));
      expect(new Set(order.slice(1, 3))).toEqual(new Set([childA, childB]));
      expect(order[4]).toBe(orphan);
      expect(views.map((view) => view.orphan)).toEqual([false, false, false, false, true]);
      const rootView = views[0];
      expect(new Set(rootView.childIds)).toEqual(new Set([childA, childB]));
    });

    it("should rebuild correlations the tracker forgot from stored events", () => {
      const { broker } = createTestBroker({ maxActiveWorkflows: 1 });
      publishNow(broker, envelope("events.a", { correlationId: root, workflowStage: "s" }), unverifiedPeer);
      publishNow(broker, envelope("events.a", { correlationId: root }), unverifiedPeer);
      publishNow(broker, envelope("events.a", { correlationId: childA, parentCorrelationId: root, rootCorrelationId: root }), unverifiedPeer);
      const views = broker.timeline(root, 0, 0).correlations;
      expect(views.map((view) => [view.state.id, view.tracked, view.state.totalEvents])).toEqual([
        [root, false, 2],
        [childA, true, 1],
      ]);
      expect(views[0].childIds).toEqual([childA]);
      expect(views[1].orphan).toBe(false);
    });
  });
});
