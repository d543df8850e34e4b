import { create, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { EventEnvelopeSchema } from "../../gen/corrbus/v1/envelope_pb.js";
import { encodeOwnFields } from "../../src/core/envelope-encoding.js";
import { timestamp } from "./message-arbitraries.js";


const envelope = fc
  .record({
    topic: fc.oneof(fc.string({ unit: "grapheme", maxLength: 100 }), fc.string({ maxLength: 100 })),
    payload: fc.uint8Array({ maxLength: 300 }),
    contentType: fc.string({ maxLength: 20 }),
    timestamp,
    publisherProcessId: fc.nat(),
    eventId: fc.bigInt({ min: 0n, max: 2n ** 53n - 1n }),
    receivedAt: timestamp,
    publisher: fc.option(
      fc.record({
        pid: fc.nat(),
        uid: fc.option(fc.nat(), { nil: undefined }),
        gid: fc.option(fc.nat(), { nil: undefined }),
        verified: fc.boolean(),
        statedPid: fc.nat(),
        statedPidMismatch: fc.boolean(),
      }),
      { nil: undefined },
    ),
  })
  .map((init) => create(EventEnvelopeSchema, init));

describe("encodeOwnFields", () => {
  it("should write exactly what toBinary writes for an envelope without correlation metadata", () => {
    fc.assert(
      fc.property(envelope, (event) => {
        expect(Buffer.from(encodeOwnFields(event, true) as Uint8Array)).toEqual(Buffer.from(toBinary(EventEnvelopeSchema, event)));
        const withoutStamps = create(EventEnvelopeSchema, { ...event, eventId: 0n, receivedAt: undefined });
        expect(Buffer.from(encodeOwnFields(event, false) as Uint8Array)).toEqual(Buffer.from(toBinary(EventEnvelopeSchema, withoutStamps)));
      }),
      { numRuns: 300 },
    );
  });

  it("should leave envelopes with unknown fields to toBinary, which keeps them", () => {
    const event = create(EventEnvelopeSchema, { topic: "events.a" });
    event.$unknown = [{ no: 99, wireType: 0, data: new Uint8Array([1]) }];
    expect(encodeOwnFields(event, true)).toBeUndefined();
  });
});
