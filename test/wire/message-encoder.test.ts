import { create, type DescMessage, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { messageEncoder } from "../../src/wire/message-encoder.js";
import { everyKindSchema, legacySchema } from "./every-kind-schema.js";
import { messageArbitrary, schemaMessages } from "./schema-arbitraries.js";

/** The encoder against toBinary, for `numRuns` messages of `schema` with any of its fields set to any value. */
function writesWhatToBinaryWrites(schema: DescMessage, numRuns: number): void {
  const encoder = messageEncoder(schema);
  fc.assert(
    fc.property(messageArbitrary(schema), (message) => {
      const encoded = encoder.encode(message);
      expect(Buffer.from(encoded)).toEqual(Buffer.from(toBinary(schema, message)));
      expect(encoder.size(message)).toBe(encoded.length);
    }),
    { numRuns },
  );
}

describe("messageEncoder", () => {
  for (const schema of schemaMessages) {
    describe(schema.typeName, () => {
      it("should write exactly what toBinary writes, for any value of every field", () => writesWhatToBinaryWrites(schema, 60));
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

describe("messageEncoder, on kinds the corrbus schema does not use yet", () => {
  for (const schema of [everyKindSchema, legacySchema]) {
    it(`should write exactly what toBinary writes: ${schema.typeName} (every scalar kind, proto2 presence, packed lists, maps, oneof, recursion)`, () =>
      writesWhatToBinaryWrites(schema, 300));
  }
});

describe("messageEncoder, fixed cases", () => {
  it("should write -0 in a double or float field, as toBinary does (found by the every-kind property)", () => {
    const message = create(everyKindSchema, { plainDouble: -0, plainFloat: -0 } as never);
    expect(Buffer.from(messageEncoder(everyKindSchema).encode(message))).toEqual(Buffer.from(toBinary(everyKindSchema, message)));
    expect(messageEncoder(everyKindSchema).encode(message).length).toBe(14);
  });
});
