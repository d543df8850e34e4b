import { type DescMessage, create, fromBinary, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CorrelationMetadataSchema } from "../../gen/corrbus/v1/correlation_pb.js";
import { EventEnvelopeSchema } from "../../gen/corrbus/v1/envelope_pb.js";
import { GetTimelineResponseSchema } from "../../gen/corrbus/v1/service_pb.js";
import { messageDecoder } from "../../src/wire/message-decoder.js";
import { everyKindSchema, legacySchema } from "./every-kind-schema.js";
import { messageArbitrary, schemaMessages } from "./schema-arbitraries.js";

type Value = any;

/** Unknown fields of every wire type, as toBinary writes them back (after the known ones). */
const unknownField = fc.oneof(
  fc.record({ no: fc.integer({ min: 1000, max: 2 ** 29 - 1 }), wireType: fc.constant(0), data: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map(varintBytes) }),
  fc.record({ no: fc.integer({ min: 1000, max: 5000 }), wireType: fc.constant(1), data: fc.uint8Array({ minLength: 8, maxLength: 8 }) }),
  fc.record({
    no: fc.integer({ min: 1000, max: 5000 }),
    wireType: fc.constant(2),
    data: fc.uint8Array({ maxLength: 40 }).map((bytes) => Uint8Array.from([...varintBytes(BigInt(bytes.length)), ...bytes])),
  }),
  fc.record({ no: fc.integer({ min: 1000, max: 5000 }), wireType: fc.constant(5), data: fc.uint8Array({ minLength: 4, maxLength: 4 }) }),
  // A group: a varint field inside, then the end tag of the same number.
  fc
    .integer({ min: 1000, max: 5000 })
    .map((no) => ({ no, wireType: 3, data: Uint8Array.from([...varintBytes(BigInt(8)), 1, ...varintBytes(BigInt(no * 8 + 4))]) })),
);

function varintBytes(value: bigint): Uint8Array {
  const bytes: number[] = [];
  let rest = value;
  while (rest >= 0x80n) {
    bytes.push(Number(rest & 0x7fn) | 0x80);
    rest >>= 7n;
  }
  bytes.push(Number(rest));
  return Uint8Array.from(bytes);
}

/** fromBinary's message with bigints as numbers, or the error the plain form must give. */
function plainOf(value: Value): Value {
  if (typeof value === "bigint") {
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < -BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError("past 2^53");
    return Number(value);
  }
  if (value === null || typeof value !== "object" || value instanceof Uint8Array) return value;
  if (Array.isArray(value)) return value.map(plainOf);
  const copy = Object.create(Object.getPrototypeOf(value));
  for (const key of Object.keys(value)) Object.defineProperty(copy, key, { value: plainOf(value[key]), enumerable: true, writable: true, configurable: true });
  return copy;
}

/** The decoder against fromBinary (and, in the plain form, against fromBinary's message with numbers) for `numRuns` messages. */
function decodesAsFromBinary(schema: DescMessage, numRuns: number, withUnknown: boolean): void {
  const decoder = messageDecoder(schema);
  const plain = messageDecoder(schema, "number");
  fc.assert(
    fc.property(messageArbitrary(schema), fc.array(unknownField, { maxLength: withUnknown ? 3 : 0 }), (message, unknown) => {
      if (unknown.length > 0) message.$unknown = unknown;
      const bytes = toBinary(schema, message);
      const expected = fromBinary(schema, bytes);
      expect(decoder.decode(bytes)).toStrictEqual(expected);
      // toBinary's encodings are the usual ones: decoded here, never left to fromBinary.
      expect(decoder.decodeUsual(bytes)).toStrictEqual(expected);
      let expectedPlain: Value;
      try {
        expectedPlain = plainOf(expected);
      } catch {
        expect(() => plain.decode(bytes)).toThrow(RangeError);
        return;
      }
      expect(plain.decode(bytes)).toStrictEqual(expectedPlain);
      expect(plain.decodeUsual(bytes)).toStrictEqual(expectedPlain);
    }),
    { numRuns },
  );
}

describe("messageDecoder", () => {
  for (const schema of schemaMessages) {
    describe(schema.typeName, () => {
      it("should decode exactly what fromBinary decodes, for any value of every field", () => decodesAsFromBinary(schema, 60, false));
      it("should keep unknown fields of every wire type in order, as fromBinary does", () => decodesAsFromBinary(schema, 30, true));
    });
  }

  it("should keep map keys like constructor and toString as own entries, as fromBinary does", () => {
    const keys = fc.constantFrom("constructor", "toString", "hasOwnProperty", "valueOf", "");
    fc.assert(
      fc.property(fc.dictionary(keys, fc.string({ maxLength: 8 }), { minKeys: 1 }), (tags) => {
        const bytes = toBinary(CorrelationMetadataSchema, create(CorrelationMetadataSchema, { correlationTags: tags }));
        const decoded = messageDecoder(CorrelationMetadataSchema).decode(bytes);
        const expected = fromBinary(CorrelationMetadataSchema, bytes);
        expect(decoded).toStrictEqual(expected);
        expect(Object.keys(decoded.correlationTags)).toEqual(Object.keys(expected.correlationTags));
        expect(Object.getPrototypeOf(decoded.correlationTags)).toBe(Object.prototype);
        for (const key of Object.keys(tags)) expect(Object.getOwnPropertyDescriptor(decoded.correlationTags, key)?.value).toBe(tags[key]);
      }),
      { numRuns: 100 },
    );
  });

  it("should keep a map key __proto__ as an own entry, which fromBinary of protobuf-es 2.13 drops, so validation can refuse it by name", () => {
    const tags = {};
    Object.defineProperty(tags, "__proto__", { value: "p", enumerable: true, writable: true, configurable: true });
    const bytes = toBinary(CorrelationMetadataSchema, create(CorrelationMetadataSchema, { correlationTags: { a: "1" } }));
    const withProto = Buffer.concat([
      bytes,
      toBinary(CorrelationMetadataSchema, { $typeName: "corrbus.v1.CorrelationMetadata", correlationTags: tags } as never),
    ]);
    const decoded = messageDecoder(CorrelationMetadataSchema).decode(withProto);
    expect(Object.entries(decoded.correlationTags)).toEqual([
      ["a", "1"],
      ["__proto__", "p"],
    ]);
    expect(Object.getPrototypeOf(decoded.correlationTags)).toBe(Object.prototype);
  });

  it("should answer fromBinary's message or fromBinary's error for any bytes", () => {
    const decoder = messageDecoder(EventEnvelopeSchema);
    const envelopes = messageArbitrary(EventEnvelopeSchema).map((message) => toBinary(EventEnvelopeSchema, message));
    // Valid encodings cut short or with a byte changed, and noise.
    const damaged = fc.oneof(
      fc.tuple(envelopes, fc.nat()).map(([bytes, cut]) => bytes.subarray(0, cut % (bytes.length + 1))),
      fc.tuple(envelopes, fc.nat(), fc.integer({ min: 0, max: 255 })).map(([bytes, at, value]) => {
        const copy = Uint8Array.from(bytes);
        if (copy.length > 0) copy[at % copy.length] = value;
        return copy;
      }),
      fc.uint8Array({ maxLength: 64 }),
    );
    fc.assert(
      fc.property(damaged, (bytes) => {
        let expected: { message: Value } | { error: string };
        try {
          expected = { message: fromBinary(EventEnvelopeSchema, bytes) };
        } catch (error) {
          expected = { error: (error as Error).message };
        }
        if ("message" in expected) expect(decoder.decode(bytes)).toStrictEqual(expected.message);
        else expect(() => decoder.decode(bytes)).toThrow(expected.error);
      }),
      { numRuns: 500 },
    );
  });

  for (const schema of [...schemaMessages, everyKindSchema]) {
    it(`should merge two encodings one after the other as fromBinary does: ${schema.typeName}`, () => {
      fc.assert(
        fc.property(messageArbitrary(schema), messageArbitrary(schema), (first, second) => {
          const bytes = Buffer.concat([toBinary(schema, first), toBinary(schema, second)]);
          expect(messageDecoder(schema).decode(bytes)).toStrictEqual(fromBinary(schema, bytes));
        }),
        { numRuns: 30 },
      );
    });
  }

  it("should decode a repeated message field that fromBinary merges, as fromBinary does", () => {
    const first = toBinary(
      EventEnvelopeSchema,
      create(EventEnvelopeSchema, { topic: "a", correlationMetadata: { correlationId: "x", correlationTags: { a: "1" } } }),
    );
    const second = toBinary(EventEnvelopeSchema, create(EventEnvelopeSchema, { correlationMetadata: { sequenceNumber: 5n, correlationTags: { b: "2" } } }));
    const bytes = Buffer.concat([first, second]);
    expect(messageDecoder(EventEnvelopeSchema).decode(bytes)).toStrictEqual(fromBinary(EventEnvelopeSchema, bytes));
    expect(messageDecoder(EventEnvelopeSchema).decode(bytes).correlationMetadata?.correlationTags).toEqual({ a: "1", b: "2" });
    // How storage answers an event: its metadata in two parts, merged by the reader.
    expect(messageDecoder(EventEnvelopeSchema).decodeUsual(bytes)).toStrictEqual(fromBinary(EventEnvelopeSchema, bytes));
  });

  it("should answer 64-bit integers as numbers in the plain form, and refuse one past 2^53 naming its field", () => {
    const exact = toBinary(CorrelationMetadataSchema, create(CorrelationMetadataSchema, { sequenceNumber: 2n ** 53n - 1n }));
    expect(messageDecoder(CorrelationMetadataSchema, "number").decode(exact).sequenceNumber).toBe(2 ** 53 - 1);
    const past = toBinary(CorrelationMetadataSchema, create(CorrelationMetadataSchema, { sequenceNumber: 2n ** 53n }));
    expect(() => messageDecoder(CorrelationMetadataSchema, "number").decode(past)).toThrow(
      /corrbus\.v1\.CorrelationMetadata\.sequence_number: 9007199254740992 is not exact/,
    );
    // Also when the input goes to fromBinary (a repeated metadata field, merged there).
    const envelope = toBinary(EventEnvelopeSchema, create(EventEnvelopeSchema, { correlationMetadata: { sequenceNumber: 2n ** 60n } }));
    expect(() => messageDecoder(EventEnvelopeSchema, "number").decode(Buffer.concat([envelope, envelope]))).toThrow(
      /corrbus\.v1\.CorrelationMetadata\.sequence_number: 1152921504606846976 is not exact/,
    );
  });

  it("should tell apart strings that share their length and the bytes the string cache hashes, ASCII or not", () => {
    // Two-letter alphabets with a non-ASCII letter make strings collide in the cache's slots all the time.
    const text = fc.string({ unit: fc.constantFrom("a", "b", "\u00e9", "\u00ff", "\u20ac"), minLength: 0, maxLength: 40 });
    const decoder = messageDecoder(CorrelationMetadataSchema);
    fc.assert(
      fc.property(fc.array(fc.tuple(text, text, fc.dictionary(text, text, { maxKeys: 3 })), { minLength: 1, maxLength: 20 }), (rows) => {
        for (const [correlationId, stage, tags] of rows) {
          const bytes = Buffer.from(
            toBinary(CorrelationMetadataSchema, create(CorrelationMetadataSchema, { correlationId, workflowStage: stage, correlationTags: tags })),
          );
          expect(decoder.decode(bytes)).toStrictEqual(fromBinary(CorrelationMetadataSchema, bytes));
        }
      }),
      { numRuns: 300 },
    );
  });

  it("should decode a whole timeline answer as fromBinary does", () => {
    fc.assert(
      fc.property(messageArbitrary(GetTimelineResponseSchema), (message) => {
        const bytes = Buffer.from(toBinary(GetTimelineResponseSchema, message));
        // A Buffer, as the client reads answers: bytes fields are views of it in both.
        expect(messageDecoder(GetTimelineResponseSchema).decode(bytes)).toStrictEqual(fromBinary(GetTimelineResponseSchema, bytes));
      }),
      { numRuns: 50 },
    );
  });
});

describe("messageDecoder, on kinds the corrbus schema does not use yet", () => {
  for (const schema of [everyKindSchema, legacySchema]) {
    it(`should decode exactly what fromBinary decodes: ${schema.typeName} (every scalar kind, proto2 presence, packed lists, maps, oneof, recursion)`, () =>
      decodesAsFromBinary(schema, 300, true));
  }
});
