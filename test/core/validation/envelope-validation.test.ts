import { describe, expect, it } from "vitest";
import type { EventEnvelope } from "../../../gen/corrbus/v1/envelope_pb.js";
import { CapacityError, NotFoundError } from "../../../src/core/validation/broker-errors.js";
import { defaultBrokerLimits, validateBrokerLimits } from "../../../src/core/validation/broker-limits.js";
import type { CorrelationBroker } from "../../../src/core/correlation-broker.js";
import { InvalidInputError, LineageError } from "../../../src/core/validation/invalid-input-error.js";
import { createTestBroker, envelope, expectInvalidInput, type MetaInit, uuidFor, unverifiedPeer } from "../core-fixtures.js";
import { publishBatchNow, publishNow } from "../publish-now.js";

const smallLimits = {
  maxPayloadBytes: 16,
  maxTags: 2,
  maxTagKeyBytes: 8,
  maxTagValueBytes: 5,
  maxNameBytes: 8,
  maxBatchEnvelopes: 2,
};

const id = uuidFor(1);

function withMeta(meta: Partial<MetaInit>): EventEnvelope {
  return envelope("events.a", { correlationId: id, ...meta });
}

/**
 * Publishing `event` must be refused with exactly `field` and `description`,
 * and change nothing: no event stored, stamped, delivered or tracked; only
 * the rejection counter moves.
 */
function expectRefused(broker: CorrelationBroker, event: EventEnvelope, field: string, description: string): void {
  const listener = broker.subscribe({ patterns: ["#"], queueGroup: "", name: "listener", statedPid: 0 }, unverifiedPeer);
  const before = broker.stats();
  const head = broker.headEventId;
  const error = expectInvalidInput(() => publishNow(broker, event, unverifiedPeer));
  expect(error).not.toBeInstanceOf(LineageError);
  expect(error.field).toBe(field);
  expect(error.description).toBe(description);
  expect(error.message).toBe(`${field}: ${description}`);
  expect(broker.headEventId).toBe(head);
  expect(event.eventId).toBe(0n);
  expect(event.publisher).toBeUndefined();
  expect(listener.queued).toBe(0);
  expect(broker.stats()).toEqual({ ...before, publishesRejected: before.publishesRejected + 1 });
  const correlationId = event.correlationMetadata?.correlationId;
  if (correlationId !== undefined && correlationId === id) {
    expect(() => broker.workflow(correlationId)).toThrow(NotFoundError);
  }
  broker.unsubscribe(listener);
}

describe("envelope validation (via CorrelationBroker.publish)", () => {
  describe("payload", () => {
    it("should accept a payload of exactly the limit", () => {
      const { broker } = createTestBroker(smallLimits);
      expect(publishNow(broker, envelope("events.a", undefined, { payload: new Uint8Array(16) }), unverifiedPeer).eventId).toBe(1);
    });

    it("should refuse a payload over the limit", () => {
      const { broker } = createTestBroker(smallLimits);
      expectRefused(broker, envelope("events.a", { correlationId: id }, { payload: new Uint8Array(17) }), "payload", "17 bytes exceeds the limit of 16");
    });
  });

  describe("topic", () => {
    it("should refuse a bad topic naming the segment", () => {
      const { broker } = createTestBroker(smallLimits);
      expectRefused(broker, envelope("events.Bad", { correlationId: id }), "topic", 'segment 2 "Bad" of "events.Bad" must match [a-z0-9_-]+');
      expectRefused(broker, envelope("", { correlationId: id }), "topic", "must not be empty");
    });
  });

  describe("tags", () => {
    it("should accept exactly the tag limits", () => {
      const { broker } = createTestBroker(smallLimits);
      expect(() => publishNow(broker, withMeta({ correlationTags: { "12345678": "12345", b: "" } }), unverifiedPeer)).not.toThrow();
    });

    it("should refuse more tags than the limit", () => {
      const { broker } = createTestBroker(smallLimits);
      expectRefused(
        broker,
        withMeta({ correlationTags: { a: "1", b: "2", c: "3" } }),
        "correlation_metadata.correlation_tags",
        "3 tags exceeds the limit of 2",
      );
    });

    it("should refuse a tag key over the limit", () => {
      const { broker } = createTestBroker(smallLimits);
      const key = "k".repeat(40);
      expectRefused(
        broker,
        withMeta({ correlationTags: { [key]: "v" } }),
        "correlation_metadata.correlation_tags",
        `key "${"k".repeat(32)}…" is 40 bytes, exceeds the limit of 8`,
      );
    });

    it("should refuse an empty tag key", () => {
      const { broker } = createTestBroker(smallLimits);
      expectRefused(broker, withMeta({ correlationTags: { "": "v" } }), "correlation_metadata.correlation_tags", "a tag key must not be empty");
    });

    it("should refuse a tag value over the limit, counting bytes", () => {
      const { broker } = createTestBroker(smallLimits);
      expectRefused(
        broker,
        withMeta({ correlationTags: { inv: "ééé" } }),
        "correlation_metadata.correlation_tags",
        'value of "inv" is 6 bytes, exceeds the limit of 5',
      );
    });
  });

  describe("names", () => {
    it("should refuse a workflow stage over the limit", () => {
      const { broker } = createTestBroker(smallLimits);
      expectRefused(broker, withMeta({ workflowStage: "enumerate" }), "correlation_metadata.workflow_stage", "9 bytes exceeds the limit of 8");
    });

    it("should refuse a source process over the limit, counting bytes", () => {
      const { broker } = createTestBroker(smallLimits);
      expectRefused(broker, withMeta({ sourceProcess: "prøcmon1" }), "correlation_metadata.source_process", "9 bytes exceeds the limit of 8");
    });

    it("should refuse a content type over the limit", () => {
      const { broker } = createTestBroker(smallLimits);
      expectRefused(broker, envelope("events.a", undefined, { contentType: "text/plain" }), "content_type", "10 bytes exceeds the limit of 8");
    });

    it("should accept names of exactly the limit", () => {
      const { broker } = createTestBroker(smallLimits);
      expect(() =>
        publishNow(
          broker,
          envelope("events.a", { correlationId: id, workflowStage: "12345678", sourceProcess: "12345678" }, { contentType: "text/csv" }),
          unverifiedPeer,
        ),
      ).not.toThrow();
    });
  });

  describe("UUIDs", () => {
    it("should accept any UUID version in canonical form, and refuse upper case so one id has one spelling", () => {
      const { broker } = createTestBroker();
      for (const version of ["00000000-0000-0000-0000-000000000000", "0190c6a1-2b3c-7d4e-8f00-112233445566", "3f2504e0-4f89-f1d3-9a0c-0305e82c3301"]) {
        expect(() => publishNow(broker, withMeta({ correlationId: version, rootCorrelationId: version }), unverifiedPeer)).not.toThrow();
      }
      const upper = "3F2504E0-4F89-41D3-9A0C-0305E82C3301";
      expectRefused(
        broker,
        withMeta({ correlationId: upper, rootCorrelationId: upper }),
        "correlation_metadata.correlation_id",
        `"${upper}" is not a UUID in canonical form (8-4-4-4-12 lowercase hex digits)`,
      );
    });

    const refusals: [string, Partial<MetaInit>, string, string][] = [
      [
        "a non-UUID correlation_id",
        { correlationId: "task-1" },
        "correlation_metadata.correlation_id",
        '"task-1" is not a UUID in canonical form (8-4-4-4-12 lowercase hex digits)',
      ],
      ["an empty correlation_id", { correlationId: "", rootCorrelationId: id }, "correlation_metadata.correlation_id", "must be set to a UUID"],
      [
        "a UUID without dashes",
        { correlationId: "3f2504e04f8941d39a0c0305e82c3301" },
        "correlation_metadata.correlation_id",
        '"3f2504e04f8941d39a0c0305e82c3301" is not a UUID in canonical form (8-4-4-4-12 lowercase hex digits)',
      ],
      [
        "a UUID in braces",
        { correlationId: "{3f2504e0-4f89-41d3-9a0c-0305e82c3301}" },
        "correlation_metadata.correlation_id",
        '"{3f2504e0-4f89-41d3-9a0c-0305e82c3301}" is not a UUID in canonical form (8-4-4-4-12 lowercase hex digits)',
      ],
      [
        "a non-UUID root",
        { rootCorrelationId: "root" },
        "correlation_metadata.root_correlation_id",
        '"root" is not a UUID in canonical form (8-4-4-4-12 lowercase hex digits)',
      ],
      [
        "a non-UUID parent",
        { parentCorrelationId: "zz", rootCorrelationId: uuidFor(5) },
        "correlation_metadata.parent_correlation_id",
        '"zz" is not a UUID in canonical form (8-4-4-4-12 lowercase hex digits)',
      ],
      [
        "an overlong non-UUID, quoting at most 64 characters",
        { correlationId: "x".repeat(100) },
        "correlation_metadata.correlation_id",
        `"${"x".repeat(64)}" is not a UUID in canonical form (8-4-4-4-12 lowercase hex digits)`,
      ],
    ];
    for (const [what, meta, field, description] of refusals) {
      it(`should refuse ${what}`, () => {
        const { broker } = createTestBroker();
        expectRefused(broker, withMeta(meta), field, description);
      });
    }
  });

  describe("batches", () => {
    it("should name the envelope's index and accept none of the batch", () => {
      const { broker } = createTestBroker(smallLimits);
      const before = broker.stats();
      const error = expectInvalidInput(() =>
        publishBatchNow(broker, [envelope("events.a"), envelope("events.a", undefined, { payload: new Uint8Array(20) })], unverifiedPeer),
      );
      expect([error.field, error.description]).toEqual(["envelopes[1].payload", "20 bytes exceeds the limit of 16"]);
      expect(broker.headEventId).toBe(0);
      expect(broker.stats()).toEqual({ ...before, publishesRejected: 2 });
    });

    it("should refuse a batch over the envelope limit", () => {
      const { broker } = createTestBroker(smallLimits);
      const error = expectInvalidInput(() => publishBatchNow(broker, [envelope("events.a"), envelope("events.a"), envelope("events.a")], unverifiedPeer));
      expect([error.field, error.description]).toEqual(["envelopes", "3 envelopes exceeds the limit of 2"]);
      expect(broker.headEventId).toBe(0);
    });
  });
});

describe("subscribe input", () => {
  function subscribeError(input: Partial<Parameters<CorrelationBroker["subscribe"]>[0]>, limits = {}): InvalidInputError {
    const { broker } = createTestBroker(limits);
    const error = expectInvalidInput(() =>
      broker.subscribe({ patterns: ["events.#"], queueGroup: "", name: "reader", statedPid: 0, ...input }, unverifiedPeer),
    );
    expect(broker.stats().subscribers).toBe(0);
    return error;
  }

  it("should refuse no patterns and too many patterns", () => {
    expect(subscribeError({ patterns: [] })).toMatchObject({ field: "patterns", description: "at least one pattern is required" });
    expect(subscribeError({ patterns: ["events.a", "events.b", "events.c"] }, { maxPatterns: 2 })).toMatchObject({
      field: "patterns",
      description: "3 patterns exceeds the limit of 2",
    });
  });

  it("should name the index of a bad pattern", () => {
    expect(subscribeError({ patterns: ["events.#", "events.#.x"] })).toMatchObject({
      field: "patterns[1]",
      description: 'segment 2 "#" of "events.#.x" must be the last segment',
    });
  });

  it("should refuse a bad queue group, an overlong name and replay in a queue group", () => {
    expect(subscribeError({ queueGroup: "Workers" })).toMatchObject({ field: "queue_group", description: '"Workers" must match [a-z0-9_-]+' });
    expect(subscribeError({ name: "n".repeat(9) }, { maxNameBytes: 8 })).toMatchObject({
      field: "subscriber_name",
      description: "9 bytes exceeds the limit of 8",
    });
    expect(subscribeError({ queueGroup: "workers", fromEventId: 1 })).toMatchObject({
      field: "start",
      description: "replay (from_event_id / from_time) cannot be combined with queue_group",
    });
  });

  it("should refuse subscribers past maxSubscribers with a CapacityError", () => {
    const { broker } = createTestBroker({ maxSubscribers: 1 });
    const first = broker.subscribe({ patterns: ["events.#"], queueGroup: "", name: "", statedPid: 0 }, unverifiedPeer);
    expect(() => broker.subscribe({ patterns: ["events.#"], queueGroup: "", name: "", statedPid: 0 }, unverifiedPeer)).toThrow(CapacityError);
    broker.unsubscribe(first);
    expect(() => broker.subscribe({ patterns: ["events.#"], queueGroup: "", name: "", statedPid: 0 }, unverifiedPeer)).not.toThrow();
  });
});

describe("query input", () => {
  it("should refuse non-UUID ids and unknown correlations in workflow and timeline", () => {
    const { broker } = createTestBroker();
    expect(expectInvalidInput(() => broker.workflow("x"))).toMatchObject({ field: "correlation_id" });
    expect(expectInvalidInput(() => broker.timeline("x", 0, 0))).toMatchObject({ field: "root_correlation_id" });
    expect(() => broker.workflow(id)).toThrow(NotFoundError);
    expect(() => broker.timeline(id, 0, 0)).toThrow(`no workflow with root_correlation_id ${id} in history`);
  });

  it("should page a timeline and refuse a page over maxTimelineLimit", () => {
    const { broker } = createTestBroker({ maxTimelineLimit: 3 });
    for (let i = 0; i < 4; i++) publishNow(broker, withMeta({}), unverifiedPeer);
    expect(broker.timeline(id, 0, 3)).toMatchObject({ ids: [1, 2, 3], truncated: true });
    expect(broker.timeline(id, 3, 3)).toMatchObject({ ids: [4], truncated: false });
    expect(expectInvalidInput(() => broker.timeline(id, 0, 4))).toMatchObject({ field: "limit", description: "4 exceeds the limit of 3" });
  });
});

describe("InvalidInputError", () => {
  it("should put the field under a prefix and keep the description", () => {
    const error = new InvalidInputError("payload", "too big").under("envelopes[3]");
    expect(error).toBeInstanceOf(InvalidInputError);
    expect([error.field, error.description, error.message]).toEqual(["envelopes[3].payload", "too big", "envelopes[3].payload: too big"]);
  });

  it("should keep a LineageError a LineageError under a prefix", () => {
    const error = new LineageError("correlation_metadata", "cycle").under("envelopes[0]");
    expect(error).toBeInstanceOf(LineageError);
    expect(error.name).toBe("LineageError");
    expect(error.field).toBe("envelopes[0].correlation_metadata");
  });
});

describe("validateBrokerLimits", () => {
  it("should fill defaults and keep given values", () => {
    const limits = validateBrokerLimits({ maxTags: 3 });
    expect(limits).toEqual({ ...defaultBrokerLimits, maxTags: 3 });
  });

  it("should refuse unknown and non-positive limits", () => {
    expect(() => validateBrokerLimits({ nope: 1 } as never)).toThrow('unknown limit "nope"');
    expect(() => validateBrokerLimits({ maxTags: 0 })).toThrow("limit maxTags: 0 is not a positive integer");
    expect(() => validateBrokerLimits({ maxTags: 1.5 })).toThrow("limit maxTags: 1.5 is not a positive integer");
  });
});
