import { toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { messageEncoder } from "../../src/wire/message-encoder.js";
import { messageArbitrary, schemaMessages } from "./schema-arbitraries.js";

describe("messageEncoder", () => {
  for (const schema of schemaMessages) {
    describe(schema.typeName, () => {
      it("should write exactly what toBinary writes, for any value of every field", () => {
        const encoder = messageEncoder(schema);
        fc.assert(
          fc.property(messageArbitrary(schema), (message) => {
            const encoded = encoder.encode(message);
            expect(Buffer.from(encoded)).toEqual(Buffer.from(toBinary(schema, message)));
            expect(encoder.size(message)).toBe(encoded.length);
          }),
          { numRuns: 60 },
        );
      });
    });
  }

  it("should write unknown fields last, as toBinary does", () => {
    const schema = schemaMessages.find((message) => message.typeName === "corrbus.v1.EventEnvelope")!;
    fc.assert(
      fc.property(messageArbitrary(schema), fc.uint8Array({ minLength: 1, maxLength: 20 }), (message, data) => {
        message.$unknown = [{ no: 99, wireType: 2, data: Uint8Array.from([data.length, ...data]) }];
        expect(Buffer.from(messageEncoder(schema).encode(message))).toEqual(Buffer.from(toBinary(schema, message)));
      }),
      { numRuns: 50 },
    );
  });

  it("should answer toBinary's error for a value of the wrong type", () => {
    const schema = schemaMessages.find((message) => message.typeName === "corrbus.v1.PublisherIdentity")!;
    const message = messageArbitrary(schema);
    const sample = fc.sample(message, 1)[0] as unknown as Record<string, unknown>;
    sample.pid = 2 ** 40;
    expect(() => messageEncoder(schema).encode(sample as never)).toThrow(/pid/);
  });
});
