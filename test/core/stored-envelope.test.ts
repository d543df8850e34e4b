import { create, equals, fromBinary, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type EventEnvelope, EventEnvelopeSchema } from "../../gen/corrbus/v1/envelope_pb.js";
import { decodeStoredEnvelope, joinEnvelope, splitForStorage } from "../../src/core/stored-envelope.js";
import { metadataInit, text, timestamp } from "./message-arbitraries.js";

// A stamped event as the broker stores it: sequence numbers past 2^53 and unknown fields take the slow paths.
const stamped = fc
  .record({
    topic: text,
    payload: fc.uint8Array({ maxLength: 300 }),
    contentType: text,
    timestamp,
    publisherProcessId: fc.nat(),
    eventId: fc.bigInt({ min: 1n, max: 2n ** 53n - 1n }),
    receivedAt: timestamp,
    publisher: fc.option(fc.record({ pid: fc.nat(), uid: fc.nat(), gid: fc.nat(), verified: fc.boolean(), statedPid: fc.nat() }), { nil: undefined }),
    correlationMetadata: fc.option(
      fc.tuple(metadataInit, fc.oneof(fc.constant(undefined), fc.bigInt({ min: 2n ** 53n, max: 2n ** 64n - 1n })), fc.boolean()).map(([init, huge, unknown]) => ({
        ...init,
        sequenceNumber: huge ?? init.sequenceNumber,
        $unknown: unknown ? [{ no: 99, wireType: 0, data: new Uint8Array([7]) }] : undefined,
      })),
      { nil: undefined },
    ),
  })
  .map((init) => create(EventEnvelopeSchema, init as never));

describe("splitForStorage", () => {
  it("should split every stamped event so that body ‖ stamps ‖ template decodes to it, and count the size of its encoding", () => {
    fc.assert(
      fc.property(stamped, (event: EventEnvelope) => {
        const split = splitForStorage(event);
        const template = split.templateKey === undefined ? undefined : split.encodeTemplate();
        const whole = joinEnvelope(split, template);
        expect(equals(EventEnvelopeSchema, fromBinary(EventEnvelopeSchema, whole), event)).toBe(true);
        expect(split.encodedSize).toBe(toBinary(EventEnvelopeSchema, event).length);
        const stored = decodeStoredEnvelope(split.body, template);
        expect(equals(EventEnvelopeSchema, stored, { ...event, eventId: 0n, receivedAt: undefined })).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});
