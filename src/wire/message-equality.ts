import { type DescField, type DescMessage, ScalarType } from "@bufbuild/protobuf";

/**
 * Field-by-field equality compiled from a message's descriptor, unknown
 * fields included: memos that recognise a repeated message compare every
 * field the schema has, so a field added to the schema is compared the day
 * it is generated (a hand-written comparison would call two messages that
 * differ only in it equal).
 */
export type MessageEquality = (a: Value, b: Value) => boolean;

// biome-ignore lint/suspicious/noExplicitAny: values are read by descriptor, as in the encoder
type Value = any;

/** Equality of `schema`'s messages over the fields `keep` keeps (default all), unknown fields included. */
export function messageEquality(schema: DescMessage, keep?: (field: DescField) => boolean): MessageEquality {
  const fields = schema.fields.filter((field) => keep === undefined || keep(field)).map(fieldEquality);
  return (a, b) => {
    for (let index = 0; index < fields.length; index++) if (!fields[index](a, b)) return false;
    return unknownEqual(a.$unknown, b.$unknown);
  };
}

const compiled = new WeakMap<DescMessage, MessageEquality>();

function equalityOf(schema: DescMessage): MessageEquality {
  let equal = compiled.get(schema);
  if (equal === undefined) {
    // Registered first: a recursive message type finds itself.
    compiled.set(schema, (a, b) => (equal as MessageEquality)(a, b));
    equal = messageEquality(schema);
    compiled.set(schema, equal);
  }
  return equal;
}

function fieldEquality(field: DescField): MessageEquality {
  const name = field.localName;
  if (field.oneof !== undefined) {
    const oneof = field.oneof.localName;
    const value = singularEquality(field);
    return (a, b) => (a[oneof].case === name) === (b[oneof].case === name) && (a[oneof].case !== name || value(a[oneof].value, b[oneof].value));
  }
  switch (field.fieldKind) {
    case "list": {
      const element =
        field.listKind === "message" ? messageValueEquality(field.message) : scalarEquality(field.listKind === "enum" ? ScalarType.INT32 : field.scalar);
      return (a, b) => listEqual(a[name], b[name], element);
    }
    case "map": {
      const value =
        field.mapKind === "message" ? messageValueEquality(field.message) : scalarEquality(field.mapKind === "enum" ? ScalarType.INT32 : field.scalar);
      return (a, b) => mapEqual(a[name], b[name], value);
    }
    default: {
      const value = singularEquality(field);
      return (a, b) => value(a[name], b[name]);
    }
  }
}

function singularEquality(field: DescField): (a: Value, b: Value) => boolean {
  if (field.fieldKind === "message") return messageValueEquality(field.message);
  if (field.fieldKind === "enum") return (a, b) => a === b;
  return scalarEquality(field.fieldKind === "scalar" ? field.scalar : ScalarType.INT32);
}

function messageValueEquality(schema: DescMessage): (a: Value, b: Value) => boolean {
  // Looked up on first use: the nested message may still be compiling (recursive types).
  let nested: MessageEquality | undefined;
  return (a, b) => (a === undefined || b === undefined ? a === b : a === b || (nested ??= equalityOf(schema))(a, b));
}

function scalarEquality(type: ScalarType): (a: Value, b: Value) => boolean {
  if (type === ScalarType.BYTES) return (a, b) => a === b || (a !== undefined && b !== undefined && bytesEqual(a, b));
  // Doubles: NaN equals NaN here (the same bytes on the wire), and -0 is not 0.
  if (type === ScalarType.DOUBLE || type === ScalarType.FLOAT) return (a, b) => Object.is(a, b);
  return (a, b) => a === b;
}

function listEqual(a: Value[], b: Value[], element: (a: Value, b: Value) => boolean): boolean {
  if (a.length !== b.length) return false;
  for (let index = 0; index < a.length; index++) if (!element(a[index], b[index])) return false;
  return true;
}

/** Same entries in the same order: the order is part of the encoding. */
function mapEqual(a: Record<string, Value>, b: Record<string, Value>, value: (a: Value, b: Value) => boolean): boolean {
  if (a === b) return true;
  const left = Object.keys(a);
  const right = Object.keys(b);
  if (left.length !== right.length) return false;
  for (let index = 0; index < left.length; index++) {
    const key = left[index];
    if (right[index] !== key || !value(a[key], b[key])) return false;
  }
  return true;
}

function unknownEqual(a: { no: number; wireType: number; data: Uint8Array }[] | undefined, b: typeof a): boolean {
  const left = a ?? [];
  const right = b ?? [];
  if (left.length !== right.length) return false;
  for (let index = 0; index < left.length; index++) {
    if (left[index].no !== right[index].no || left[index].wireType !== right[index].wireType || !bytesEqual(left[index].data, right[index].data)) return false;
  }
  return true;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);
}
