import { type DescField, type DescMessage, ScalarType } from "@bufbuild/protobuf";
import { mayReadDefaultFromPrototype } from "./field-presence.js";
import { valueKind } from "./field-value-kind.js";
import { GeneratedFunction, property } from "./generated-function.js";

/**
 * Field-by-field equality compiled from a message's descriptor, unknown
 * fields included: memos that recognise a repeated message compare every
 * field the schema has, so a field added to the schema is compared the day
 * it is generated (a hand-written comparison would call two messages that
 * differ only in it equal). Each message's comparison is generated as one
 * straight-line function (generated-function.ts says why).
 */
export type MessageEquality = (a: Value, b: Value) => boolean;

// biome-ignore lint/suspicious/noExplicitAny: values are read by descriptor, as in the encoder
type Value = any;

/** Equality of `schema`'s messages over the fields `keep` keeps (default all), unknown fields included. */
export function messageEquality(schema: DescMessage, keep?: (field: DescField) => boolean): MessageEquality {
  return keep === undefined ? equalityOf(schema) : compileEquality(schema, keep);
}

const compiled = new WeakMap<DescMessage, { equal: MessageEquality }>();

/** The whole message's equality, generated once per descriptor. */
function equalityOf(schema: DescMessage): MessageEquality {
  return registeredEquality(schema).equal;
}

function registeredEquality(schema: DescMessage): { equal: MessageEquality } {
  let registered = compiled.get(schema);
  if (registered === undefined) {
    // Registered before it is generated: a recursive message type calls itself through it.
    registered = { equal: notCompiledYet };
    compiled.set(schema, registered);
    registered.equal = compileEquality(schema, undefined);
  }
  return registered;
}

function notCompiledYet(): never {
  throw new Error("message equality used before it was compiled");
}

/**
 * Generates `equal(a, b)`. Locals of the generated code: `x` and `y` the two
 * sides' values of a field, `kx` and `ky` their map keys, `k` a key.
 */
function compileEquality(schema: DescMessage, keep: ((field: DescField) => boolean) | undefined): MessageEquality {
  const code = new GeneratedFunction();
  const bytes = code.bind(bytesEqual, "bytesEqual");
  const unknown = code.bind(unknownEqual, "unknownEqual");
  const checks = schema.fields.filter((field) => keep === undefined || keep(field)).map((field) => fieldCheck(field, code, bytes));
  return code.build<MessageEquality>(`return function equal(a, b) {
  let x, y, kx, ky, k;
  ${checks.join("\n  ")}
  x = a.$unknown; y = b.$unknown;
  return ((x === undefined || x.length === 0) && (y === undefined || y.length === 0)) || ${unknown}(x, y);
};`);
}

/** Statements that answer false when the field differs. */
function fieldCheck(field: DescField, code: GeneratedFunction, bytes: string): string {
  const name = JSON.stringify(field.localName);
  if (field.oneof !== undefined) {
    const oneof = JSON.stringify(field.oneof.localName);
    const differs = elementDiffers(valueKind(field), "x.value", "y.value", code, bytes);
    return `x = a[${oneof}]; y = b[${oneof}]; if ((x.case === ${name}) !== (y.case === ${name}) || (x.case === ${name} && ${differs})) return false;`;
  }
  const read = `x = ${property("a", field.localName)}; y = ${property("b", field.localName)};`;
  switch (field.fieldKind) {
    case "list": {
      const differs = elementDiffers(valueKind(field), "x[k]", "y[k]", code, bytes);
      return `${read} if (x.length !== y.length) return false; for (k = 0; k < x.length; k++) if (${differs}) return false;`;
    }
    case "map": {
      // Same entries in the same order: the order is part of the encoding.
      const differs = elementDiffers(valueKind(field), "x[k]", "y[k]", code, bytes);
      return `${read} if (x !== y) { kx = Object.keys(x); ky = Object.keys(y); if (kx.length !== ky.length) return false; for (let i = 0; i < kx.length; i++) { k = kx[i]; if (ky[i] !== k || ${differs}) return false; } }`;
    }
    default: {
      const differs = elementDiffers(valueKind(field), "x", "y", code, bytes);
      if (!mayReadDefaultFromPrototype(field)) return `${read} if (${differs}) return false;`;
      // An unset field reads as its default from the prototype, yet only a set one is written: set-ness first, then values.
      return `k = Object.hasOwn(a, ${name}); if (k !== Object.hasOwn(b, ${name})) return false; if (k) { ${read} if (${differs}) return false; }`;
    }
  }
}

/** An expression, true when two values of one kind differ. */
function elementDiffers(kind: ScalarType | DescMessage, x: string, y: string, code: GeneratedFunction, bytes: string): string {
  if (typeof kind === "object") {
    // Looked up when called: the nested message may still be compiling (recursive types).
    const nested = code.bind(registeredEquality(kind), "message");
    return `(${x} !== ${y} && (${x} === undefined || ${y} === undefined || !${nested}.equal(${x}, ${y})))`;
  }
  if (kind === ScalarType.BYTES) return `(${x} !== ${y} && (${x} === undefined || ${y} === undefined || !${bytes}(${x}, ${y})))`;
  // Doubles: NaN equals NaN here (the same bytes on the wire), and -0 is not 0.
  if (kind === ScalarType.DOUBLE || kind === ScalarType.FLOAT) return `!Object.is(${x}, ${y})`;
  return `${x} !== ${y}`;
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
