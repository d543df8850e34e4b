import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PublishResponseSchema } from "../../gen/corrbus/v1/service_pb.js";
import { encodePublishResponse } from "../../src/server/lean-publish.js";

describe("encodePublishResponse", () => {
  it("should write exactly what toBinary writes", () => {
    fc.assert(
      fc.property(fc.nat({ max: Number.MAX_SAFE_INTEGER }), fc.nat({ max: 2 ** 32 - 1 }), fc.nat({ max: 2 ** 45 }), (eventId, deliveredCount, receivedAtMs) => {
        const expected = toBinary(
          PublishResponseSchema,
          create(PublishResponseSchema, { eventId: BigInt(eventId), deliveredCount, receivedAt: timestampFromMs(receivedAtMs) }),
        );
        expect(Buffer.from(encodePublishResponse({ eventId, deliveredCount, receivedAtMs }))).toEqual(Buffer.from(expected));
      }),
      { numRuns: 500 },
    );
  });
});
