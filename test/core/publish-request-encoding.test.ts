import { create, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PublishRequestSchema, PublishStreamRequestSchema } from "../../gen/corrbus/v1/service_pb.js";
import { encodePublishRequest, encodePublishStreamRequest } from "../../src/client/request-encoding.js";
import { metadataInit, text, timestamp } from "./message-arbitraries.js";

const metadata = fc.option(metadataInit, { nil: undefined });
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
