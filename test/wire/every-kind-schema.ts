// A schema built at run time with every scalar kind, singular, optional, repeated (packed and not), in a oneof and as
// map keys and values, plus proto2 presence and a recursive message: kinds corrbus's own schema does not use yet, so
// the compiled codecs are proven on them before a schema change needs them.
import { create, createFileRegistry, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import {
  type DescriptorProtoSchema,
  type FieldDescriptorProtoSchema,
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  FileDescriptorProtoSchema,
} from "@bufbuild/protobuf/wkt";

const scalarKinds: [string, FieldDescriptorProto_Type][] = [
  ["double", FieldDescriptorProto_Type.DOUBLE],
  ["float", FieldDescriptorProto_Type.FLOAT],
  ["int64", FieldDescriptorProto_Type.INT64],
  ["uint64", FieldDescriptorProto_Type.UINT64],
  ["int32", FieldDescriptorProto_Type.INT32],
  ["fixed64", FieldDescriptorProto_Type.FIXED64],
  ["fixed32", FieldDescriptorProto_Type.FIXED32],
  ["bool", FieldDescriptorProto_Type.BOOL],
  ["string", FieldDescriptorProto_Type.STRING],
  ["bytes", FieldDescriptorProto_Type.BYTES],
  ["uint32", FieldDescriptorProto_Type.UINT32],
  ["sfixed32", FieldDescriptorProto_Type.SFIXED32],
  ["sfixed64", FieldDescriptorProto_Type.SFIXED64],
  ["sint32", FieldDescriptorProto_Type.SINT32],
  ["sint64", FieldDescriptorProto_Type.SINT64],
];

const mapKeyKinds = scalarKinds.filter(
  ([, type]) => type !== FieldDescriptorProto_Type.DOUBLE && type !== FieldDescriptorProto_Type.FLOAT && type !== FieldDescriptorProto_Type.BYTES,
);

type FieldInit = MessageInitShape<typeof FieldDescriptorProtoSchema>;

function field(name: string, number: number, type: FieldDescriptorProto_Type, extra: FieldInit = {}): FieldInit {
  return { name, number, type, label: FieldDescriptorProto_Label.OPTIONAL, jsonName: name, ...extra };
}

function everyKindFile() {
  const fields: FieldInit[] = [];
  const entries: MessageInitShape<typeof DescriptorProtoSchema>[] = [];
  // oneof 0 is the real one; each proto3 optional field has a synthetic oneof of its own after it.
  const oneofDecl = [{ name: "choice" }];
  let number = 1;
  for (const [name, type] of scalarKinds) {
    fields.push(field(`plain_${name}`, number++, type));
    fields.push(field(`optional_${name}`, number++, type, { proto3Optional: true, oneofIndex: oneofDecl.length }));
    oneofDecl.push({ name: `_optional_${name}` });
    fields.push(field(`repeated_${name}`, number++, type, { label: FieldDescriptorProto_Label.REPEATED }));
    fields.push(field(`choice_${name}`, number++, type, { oneofIndex: 0 }));
  }
  for (const [name, type] of mapKeyKinds) {
    const entry = `Map${name[0].toUpperCase()}${name.slice(1)}Entry`;
    entries.push({
      name: entry,
      field: [field("key", 1, type), field("value", 2, FieldDescriptorProto_Type.SINT64)],
      options: { mapEntry: true },
    });
    fields.push(
      field(`map_${name}`, number++, FieldDescriptorProto_Type.MESSAGE, { label: FieldDescriptorProto_Label.REPEATED, typeName: `.kinds.EveryKind.${entry}` }),
    );
  }
  fields.push(field("nested", number++, FieldDescriptorProto_Type.MESSAGE, { typeName: ".kinds.EveryKind" }));
  fields.push(field("children", number++, FieldDescriptorProto_Type.MESSAGE, { label: FieldDescriptorProto_Label.REPEATED, typeName: ".kinds.EveryKind" }));
  fields.push(field("kind", number++, FieldDescriptorProto_Type.ENUM, { typeName: ".kinds.Kind" }));
  return create(FileDescriptorProtoSchema, {
    name: "kinds/every_kind.proto",
    package: "kinds",
    syntax: "proto3",
    enumType: [
      {
        name: "Kind",
        value: [
          { name: "KIND_UNSPECIFIED", number: 0 },
          { name: "KIND_ONE", number: 1 },
          { name: "KIND_NEGATIVE", number: -5 },
        ],
      },
    ],
    messageType: [{ name: "EveryKind", field: fields, nestedType: entries, oneofDecl }],
  });
}

function legacyFile() {
  return create(FileDescriptorProtoSchema, {
    name: "kinds/legacy.proto",
    package: "legacy",
    syntax: "proto2",
    messageType: [
      {
        name: "Legacy",
        field: [
          field("count", 1, FieldDescriptorProto_Type.INT32, { defaultValue: "7" }),
          field("label", 2, FieldDescriptorProto_Type.STRING, { defaultValue: "none" }),
          field("ids", 3, FieldDescriptorProto_Type.SINT32, { label: FieldDescriptorProto_Label.REPEATED }),
          field("packed_ids", 4, FieldDescriptorProto_Type.FIXED32, { label: FieldDescriptorProto_Label.REPEATED, options: { packed: true } }),
        ],
      },
    ],
  });
}

const registry = createFileRegistry(everyKindFile(), () => undefined);
const legacyRegistry = createFileRegistry(legacyFile(), () => undefined);

/** Every scalar kind in every position, proto3 (singular, optional, repeated packed, oneof, map keys and values, recursive). */
export const everyKindSchema = registry.getMessage("kinds.EveryKind") as DescMessage;

/** proto2 presence with defaults, an unpacked and a packed repeated field. */
export const legacySchema = legacyRegistry.getMessage("legacy.Legacy") as DescMessage;
