import { create, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CorrelationMetadataSchema } from "../../gen/corrbus/v1/correlation_pb.js";
import { messageEquality } from "../../src/wire/message-equality.js";
import { messageSnapshot } from "../../src/wire/message-snapshot.js";
import { everyKindSchema, legacySchema } from "./every-kind-schema.js";
import { messageArbitrary, schemaMessages } from "./schema-arbitraries.js";

type Any = any;

describe("messageSnapshot", () => {
  for (const schema of [...schemaMessages, everyKindSchema, legacySchema]) {
    it(`should copy a ${schema.typeName} into what equality calls equal to it, and to nothing toBinary tells apart`, () => {
      const snapshot = messageSnapshot(schema);
      const equal = messageEquality(schema);
      fc.assert(
        fc.property(messageArbitrary(schema), messageArbitrary(schema), (message, other) => {
          const copy = snapshot(message);
          expect(equal(copy, message)).toBe(true);
          expect(equal(copy, other)).toBe(Buffer.from(toBinary(schema, message)).equals(toBinary(schema, other)));
        }),
        { numRuns: 100 },
      );
    });
  }

  it("should keep a map entry whose key is __proto__ (CI seed -1472004272: the copy set its prototype instead)", () => {
    const snapshot = messageSnapshot(CorrelationMetadataSchema);
    const equal = messageEquality(CorrelationMetadataSchema);
    const message = create(CorrelationMetadataSchema) as Any;
    Object.defineProperty(message.correlationTags, "__proto__", { value: "", enumerable: true, writable: true, configurable: true });
    const copy = snapshot(message);
    expect(Object.keys(copy.correlationTags)).toEqual(["__proto__"]);
    expect(equal(copy, message)).toBe(true);
    expect(equal(copy, create(CorrelationMetadataSchema))).toBe(false);
  });

  it("should not see a change made in place to the message afterwards: a map entry, a nested message, a byte of a bytes field", () => {
    const snapshot = messageSnapshot(everyKindSchema);
    const equal = messageEquality(everyKindSchema);
    const fresh = () =>
      create(everyKindSchema, {
        mapString: { a: 1n },
        nested: { plainString: "inner" },
        plainBytes: new Uint8Array([1, 2, 3]),
        repeatedInt32: [1, 2],
      } as never) as Any;
    const changes: ((m: Any) => void)[] = [
      (m) => {
        m.mapString.b = 2n;
      },
      (m) => {
        m.nested.plainString = "changed";
      },
      (m) => {
        m.plainBytes[0] = 9;
      },
      (m) => {
        m.repeatedInt32.push(3);
      },
    ];
    for (const change of changes) {
      const message = fresh();
      const copy = snapshot(message);
      expect(equal(copy, message)).toBe(true);
      change(message);
      expect(equal(copy, message)).toBe(false);
    }
  });

  it("should copy only the fields a filter keeps, so a memo of shared metadata ignores the per-event ones", () => {
    const keep = (field: { number: number }) => field.number !== 4 && field.number !== 9;
    const snapshot = messageSnapshot(CorrelationMetadataSchema, keep);
    const equal = messageEquality(CorrelationMetadataSchema, keep);
    const meta = create(CorrelationMetadataSchema, { correlationId: "c", sequenceNumber: 5n, final: true, correlationTags: { a: "b" } });
    const copy = snapshot(meta);
    expect(copy.sequenceNumber).toBeUndefined();
    expect(equal(copy, { ...meta, sequenceNumber: 6n, final: false })).toBe(true);
    expect(equal(copy, { ...meta, correlationTags: { a: "c" } })).toBe(false);
  });
});
