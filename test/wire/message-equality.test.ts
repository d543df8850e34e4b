import { clone, create, type DescMessage, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { messageEquality } from "../../src/wire/message-equality.js";
import { everyKindSchema, legacySchema } from "./every-kind-schema.js";
import { messageArbitrary, schemaMessages } from "./schema-arbitraries.js";

type Any = any;

/** Two messages that differ in a few fields at most: a message and a copy with some fields taken from another. */
function nearPair(schema: DescMessage): fc.Arbitrary<[Any, Any]> {
  const names = [...new Set(schema.fields.map((field) => field.oneof?.localName ?? field.localName))];
  return fc
    .tuple(messageArbitrary(schema), messageArbitrary(schema), fc.subarray(names, { maxLength: Math.min(2, names.length) }))
    .map(([first, other, changed]) => {
      const copy: Any = clone(schema, first);
      for (const name of changed) {
        if (Object.hasOwn(other, name)) copy[name] = (other as Any)[name];
        else delete copy[name];
      }
      return [first, copy];
    });
}

describe("messageEquality", () => {
  for (const schema of [...schemaMessages, everyKindSchema, legacySchema]) {
    it(`should call two ${schema.typeName} equal exactly when toBinary writes the same bytes for them`, () => {
      const equal = messageEquality(schema);
      fc.assert(
        fc.property(nearPair(schema), ([a, b]) => {
          expect(equal(a, b)).toBe(Buffer.from(toBinary(schema, a)).equals(toBinary(schema, b)));
        }),
        { numRuns: 100 },
      );
    });
  }

  it("should tell a proto2 field set to its default from an unset one (only the set one is written)", () => {
    const equal = messageEquality(legacySchema);
    const unset = create(legacySchema);
    const setToDefault = create(legacySchema, { count: 7 } as never);
    expect(equal(unset, setToDefault)).toBe(false);
    expect(equal(setToDefault, create(legacySchema, { count: 7 } as never))).toBe(true);
  });

  it("should compare only the fields a filter keeps", () => {
    const equal = messageEquality(everyKindSchema, (field) => field.localName !== "plainString");
    const a = clone(everyKindSchema, fc.sample(messageArbitrary(everyKindSchema), 1)[0]) as Any;
    const b = clone(everyKindSchema, a) as Any;
    b.plainString = `${a.plainString}, changed`;
    expect(equal(a, b)).toBe(true);
    b.plainInt32 = a.plainInt32 + 1;
    expect(equal(a, b)).toBe(false);
  });
});
