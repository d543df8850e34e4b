import { create, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PublishRequestSchema, PublishStreamRequestSchema } from "../../gen/corrbus/v1/service_pb.js";
import { encodePublishRequest, encodePublishStreamRequest } from "../../src/client/request-encoding.js";

const text = fc.string({ unit: "grapheme", maxLength: 40 });
const timestamp = fc.option(fc.record({ seconds: fc.bigInt({ min: 0n, max: 2n ** 40n }), nanos: fc.integer({ min: 0, max: 999_999_999 }) }), { nil: undefined });
const metadata = fc.option(
  fc.record({
    correlationId: text,
    parentCorrelationId: fc.option(text, { nil: undefined }),
    rootCorrelationId: text,
    sequenceNumber: fc.bigInt({ min: 0n, max: 2n ** 53n - 1n }),
    workflowStage: text,
    sourceProcess: text,
    correlationTags: fc.dictionary(fc.string({ maxLength: 12 }), fc.string({ maxLength: 30 }), { maxKeys: 6 }),
    startedAt: timestamp,
    final: fc.boolean(),
  }),
  { nil: undefined },
);
const envelope = fc.record({ topic: text, payload: fc.uint8Array({ maxLength: 300 }), contentType: text, timestamp, publisherProcessId: fc.nat(), correlationMetadata: metadata });
const request = envelope.map((init) => create(PublishRequestSchema, { envelope: init }));
const batch = fc.array(envelope, { maxLength: 12 }).map((envelopes) => create(PublishStreamRequestSchema, { envelopes }));

describe("encodePublishRequest", () => {
  it("should write exactly what toBinary writes", () => {
    fc.assert(
      fc.property(request, (message) => {
        expect(Buffer.from(encodePublishRequest(message))).toEqual(Buffer.from(toBinary(PublishRequestSchema, message)));
      }),
      { numRuns: 300 },
    );
  });

  it("should write a PublishStreamRequest batch exactly as toBinary does", () => {
    fc.assert(
      fc.property(batch, (message) => {
        expect(Buffer.from(encodePublishStreamRequest(message))).toEqual(Buffer.from(toBinary(PublishStreamRequestSchema, message)));
      }),
      { numRuns: 100 },
    );
  });

  it("should keep unknown fields (through toBinary)", () => {
    const message = create(PublishRequestSchema, { envelope: { topic: "events.a" } });
    message.envelope!.$unknown = [{ no: 99, wireType: 0, data: new Uint8Array([1]) }];
    expect(Buffer.from(encodePublishRequest(message))).toEqual(Buffer.from(toBinary(PublishRequestSchema, message)));
  });
});
