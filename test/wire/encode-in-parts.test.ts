import { toBinary } from "@bufbuild/protobuf";
import { WireType } from "@bufbuild/protobuf/wire";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FindByTagResponseSchema, GetTimelineResponseSchema } from "../../gen/corrbus/v1/service_pb.js";
import { encodeInParts } from "../../src/wire/encode-in-parts.js";
import { messageEncoder } from "../../src/wire/message-encoder.js";
import { messageArbitrary } from "./schema-arbitraries.js";

describe("encodeInParts", () => {
  for (const schema of [FindByTagResponseSchema, GetTimelineResponseSchema]) {
    it(`should answer parts that join into toBinary's bytes, a large last unknown field apart and uncopied (${schema.typeName})`, () => {
      const encoder = messageEncoder(schema);
      fc.assert(
        fc.property(
          messageArbitrary(schema, 2),
          fc.uint8Array({ maxLength: 300 }),
          fc.integer({ min: 1, max: 2 ** 29 - 1 }),
          fc.constantFrom(WireType.LengthDelimited, WireType.Varint, WireType.Bit64),
          fc.integer({ min: 0, max: 400 }),
          (message, data, no, wireType, apartFrom) => {
            // As event-fields.ts leaves events: one more unknown field, after any the message has.
            message.$unknown = [...(message.$unknown ?? []), { no, wireType, data }];
            const parts = encodeInParts(encoder, message, apartFrom);
            expect(Buffer.concat(parts)).toEqual(Buffer.from(toBinary(schema, message)));
            if (data.length >= apartFrom) {
              expect(parts).toHaveLength(2);
              expect(parts[1]).toBe(data);
            } else expect(parts).toHaveLength(1);
          },
        ),
        { numRuns: 300 },
      );
    });
  }
});
