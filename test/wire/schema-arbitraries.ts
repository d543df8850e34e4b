// fast-check arbitraries drawn from the generated descriptors: every field of a message, whatever the schema holds
// today, so a field added to proto/ is exercised by the wire tests the day it is generated.
import { create, type DescField, type DescMessage, type MessageShape, ScalarType } from "@bufbuild/protobuf";
import fc from "fast-check";
import { file_corrbus_v1_correlation } from "../../gen/corrbus/v1/correlation_pb.js";
import { file_corrbus_v1_envelope } from "../../gen/corrbus/v1/envelope_pb.js";
import { file_corrbus_v1_journal } from "../../gen/corrbus/v1/journal_pb.js";
import { file_corrbus_v1_service } from "../../gen/corrbus/v1/service_pb.js";
import { file_corrbus_v1_workflow } from "../../gen/corrbus/v1/workflow_pb.js";

/** Every message of the corrbus schema. */
export const schemaMessages: DescMessage[] = [
  file_corrbus_v1_correlation,
  file_corrbus_v1_envelope,
  file_corrbus_v1_journal,
  file_corrbus_v1_service,
  file_corrbus_v1_workflow,
].flatMap((file) =>
  file.messages.flatMap(function withNested(message): DescMessage[] {
    return [message, ...message.nestedMessages.flatMap(withNested)];
  }),
);

/** ASCII or any graphemes (multi-byte UTF-8): both the encoders' short-ASCII loops and their native path. */
export const text = fc.oneof(fc.string({ maxLength: 80 }), fc.string({ unit: "grapheme", maxLength: 80 }));

/** A message of `schema` with any of its fields set, each to any value of its type (nested messages to `depth`). */
export function messageArbitrary<Desc extends DescMessage>(schema: Desc, depth = 3): fc.Arbitrary<MessageShape<Desc>> {
  return initArbitrary(schema, depth).map((init) => create(schema, init as never));
}

/** A message of `schema` with exactly `field` set to a value that is not its zero value (for the schema guard). */
export function oneFieldArbitrary<Desc extends DescMessage>(schema: Desc, field: DescField): fc.Arbitrary<MessageShape<Desc>> {
  return presentValue(field, 2).map((value) =>
    create(schema, (field.oneof === undefined ? { [field.localName]: value } : { [field.oneof.localName]: { case: field.localName, value } }) as never),
  );
}

function initArbitrary(schema: DescMessage, depth: number): fc.Arbitrary<Record<string, unknown>> {
  const parts: Record<string, fc.Arbitrary<unknown>> = {};
  for (const field of schema.fields) {
    if (field.oneof !== undefined) continue;
    parts[field.localName] =
      field.presence === implicitPresence && field.fieldKind !== "message"
        ? arbitraryOf(field, depth)
        : fc.option(arbitraryOf(field, depth), { nil: undefined });
  }
  for (const oneof of schema.oneofs) {
    parts[oneof.localName] = fc.oneof(
      fc.constant({ case: undefined }),
      ...oneof.fields.map((field) => arbitraryOf(field, depth).map((value) => ({ case: field.localName, value }))),
    );
  }
  return fc.record(parts, { requiredKeys: [] });
}

const implicitPresence = 2;

function arbitraryOf(field: DescField, depth: number): fc.Arbitrary<unknown> {
  switch (field.fieldKind) {
    case "scalar":
      return scalar(field.scalar);
    case "enum":
      return fc.constantFrom(...field.enum.values.map((value) => value.number));
    case "message":
      return depth <= 0 ? fc.constant(undefined) : initArbitrary(field.message, depth - 1);
    case "list": {
      // Checked before the element is built: a recursive message's arbitrary would otherwise never end.
      if (depth <= 0) return fc.constant([]);
      const element =
        field.listKind === "message"
          ? initArbitrary(field.message, depth - 1)
          : field.listKind === "enum"
            ? fc.constantFrom(...field.enum.values.map((value) => value.number))
            : scalar(field.scalar);
      return fc.array(element, { maxLength: 4 });
    }
    case "map": {
      if (depth <= 0) return fc.constant({});
      const value =
        field.mapKind === "message"
          ? initArbitrary(field.message, depth - 1)
          : field.mapKind === "enum"
            ? fc.constantFrom(...field.enum.values.map((value) => value.number))
            : scalar(field.scalar);
      return fc.dictionary(mapKey(field.mapKey), value, { maxKeys: 5 });
    }
  }
}

/** A value that is set on the wire whatever the field's presence: not the zero value, lists and maps not empty. */
function presentValue(field: DescField, depth: number): fc.Arbitrary<unknown> {
  switch (field.fieldKind) {
    case "scalar":
      return scalar(field.scalar).filter((value) => !isZero(value));
    case "enum":
      return fc.constantFrom(...field.enum.values.filter((value) => value.number !== 0).map((value) => value.number));
    case "message":
      return initArbitrary(field.message, depth);
    case "list":
      return fc.array(
        field.listKind === "message"
          ? initArbitrary(field.message, depth)
          : field.listKind === "enum"
            ? fc.constantFrom(...field.enum.values.map((value) => value.number))
            : scalar(field.scalar),
        { minLength: 1, maxLength: 3 },
      );
    case "map":
      return fc.dictionary(
        mapKey(field.mapKey),
        field.mapKind === "message"
          ? initArbitrary(field.message, depth)
          : field.mapKind === "enum"
            ? fc.constantFrom(...field.enum.values.map((value) => value.number))
            : scalar(field.scalar),
        { minKeys: 1, maxKeys: 3 },
      );
  }
}

function isZero(value: unknown): boolean {
  return value === "" || value === false || value === 0 || value === 0n || (value instanceof Uint8Array && value.length === 0);
}

function scalar(type: ScalarType): fc.Arbitrary<unknown> {
  switch (type) {
    case ScalarType.STRING:
      return text;
    case ScalarType.BYTES:
      return fc.uint8Array({ maxLength: 300 });
    case ScalarType.BOOL:
      return fc.boolean();
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return fc.integer();
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return fc.integer({ min: 0, max: 0xffffffff });
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return fc.oneof(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), fc.bigInt({ min: 0n, max: 2n ** 20n }));
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.bigInt({ min: 0n, max: 2n ** 20n }));
    case ScalarType.FLOAT:
      return fc.float({ noNaN: true });
    case ScalarType.DOUBLE:
      return fc.double({ noNaN: true });
  }
}

function mapKey(type: ScalarType): fc.Arbitrary<string> {
  switch (type) {
    case ScalarType.STRING:
      // protobuf-es 2.13 cannot keep a map key "__proto__" (see reservedTagKey): its own tests are fixed cases.
      return fc.string({ maxLength: 12 }).filter((key) => key !== "__proto__");
    case ScalarType.BOOL:
      return fc.constantFrom("true", "false");
    default:
      return scalar(type).map(String);
  }
}
