import { type DescField, type DescMessage, ScalarType } from "@bufbuild/protobuf";
import { mayReadDefaultFromPrototype } from "./field-presence.js";
import { valueKind } from "./field-value-kind.js";
import { GeneratedFunction, property } from "./generated-function.js";

/**
 * A deep copy of the fields `keep` keeps (default all), unknown fields
 * included, compiled from the descriptor: what a memo keeps to compare a
 * later message with (messageEquality over the same fields), so a caller that
 * changes its message in place — a tag added, a byte of a bytes field
 * changed — gets a miss, never a stale answer. Not a message to hand out: it
 * has the fields and nothing else (no prototype, no $typeName). protobuf-es's
 * clone() walked the message by reflection and was the largest cost of a
 * publisher's first event in a new correlation.
 */
export type MessageSnapshot = (message: Value) => Value;

// biome-ignore lint/suspicious/noExplicitAny: values are read by descriptor, as in the encoder
type Value = any;

/** The snapshot of `schema`'s messages over the fields `keep` keeps (default all). */
export function messageSnapshot(schema: DescMessage, keep?: (field: DescField) => boolean): MessageSnapshot {
  return keep === undefined ? registeredSnapshot(schema).copy : compileSnapshot(schema, keep);
}

const compiled = new WeakMap<DescMessage, { copy: MessageSnapshot }>();

function registeredSnapshot(schema: DescMessage): { copy: MessageSnapshot } {
  let registered = compiled.get(schema);
  if (registered === undefined) {
    // Registered before it is generated: a recursive message type calls itself through it.
    registered = { copy: notCompiledYet };
    compiled.set(schema, registered);
    registered.copy = compileSnapshot(schema, undefined);
  }
  return registered;
}

function notCompiledYet(): never {
  throw new Error("message snapshot used before it was compiled");
}

/** Generates `copy(m)`. Locals of the generated code: `x` a field's value, `y` its copy, `k` a key or index. */
function compileSnapshot(schema: DescMessage, keep: ((field: DescField) => boolean) | undefined): MessageSnapshot {
  const code = new GeneratedFunction();
  const copyBytes = code.bind(bytesCopy, "bytesCopy");
  const kept = schema.fields.filter((field) => keep === undefined || keep(field));
  const copies = kept.filter((field) => field.oneof === undefined).map((field) => fieldCopy(field, code, copyBytes));
  for (const oneof of schema.oneofs) {
    const cases = oneof.fields.filter((field) => kept.includes(field));
    if (cases.length > 0) copies.push(oneofCopy(oneof.localName, cases, code, copyBytes));
  }
  return code.build<MessageSnapshot>(`return function copy(m) {
  const c = {};
  let x, y, k;
  ${copies.join("\n  ")}
  x = m.$unknown;
  if (x !== undefined) c.$unknown = x.map((u) => ({ no: u.no, wireType: u.wireType, data: ${copyBytes}(u.data) }));
  return c;
};`);
}

/** A oneof: its case and value when the case is a kept field, else no case (all the kept fields' comparison needs). */
function oneofCopy(name: string, cases: DescField[], code: GeneratedFunction, copyBytes: string): string {
  const clauses = cases.map(
    (field) => `case ${JSON.stringify(field.localName)}: y = { case: x.case, value: ${valueCopy(valueKind(field), "x.value", code, copyBytes)} }; break;`,
  );
  return `x = ${property("m", name)}; switch (x.case) { ${clauses.join(" ")} default: y = { case: undefined }; } c[${JSON.stringify(name)}] = y;`;
}

/** Statements that copy the field from `m` to `c`. */
function fieldCopy(field: DescField, code: GeneratedFunction, copyBytes: string): string {
  const name = JSON.stringify(field.localName);
  const read = `x = ${property("m", field.localName)};`;
  switch (field.fieldKind) {
    case "list":
      return `${read} y = new Array(x.length); for (k = 0; k < x.length; k++) y[k] = ${valueCopy(valueKind(field), "x[k]", code, copyBytes)}; c[${name}] = y;`;
    case "map":
      // A key "__proto__" is an own entry in protobuf-es's maps; `y[k] =` would set the copy's prototype instead.
      return `${read} y = {}; for (k in x) { if (k === "__proto__") Object.defineProperty(y, k, { value: ${valueCopy(valueKind(field), "x[k]", code, copyBytes)}, enumerable: true, writable: true, configurable: true }); else y[k] = ${valueCopy(valueKind(field), "x[k]", code, copyBytes)}; } c[${name}] = y;`;
    default: {
      const value = valueCopy(valueKind(field), "x", code, copyBytes);
      // An unset field that reads as a default through the prototype stays unset in the copy.
      if (mayReadDefaultFromPrototype(field)) return `if (Object.hasOwn(m, ${name})) { ${read} c[${name}] = ${value}; }`;
      return `${read} c[${name}] = ${value};`;
    }
  }
}

/** An expression: the copy of one value. */
function valueCopy(kind: ScalarType | DescMessage, x: string, code: GeneratedFunction, copyBytes: string): string {
  if (typeof kind === "object") {
    const nested = code.bind(registeredSnapshot(kind), "message");
    return `(${x} === undefined ? undefined : ${nested}.copy(${x}))`;
  }
  if (kind === ScalarType.BYTES) return `(${x} instanceof Uint8Array ? ${copyBytes}(${x}) : ${x})`;
  return x;
}

function bytesCopy(bytes: Uint8Array): Uint8Array {
  return bytes.slice();
}
