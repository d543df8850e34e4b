import { type DescField, type DescMessage, type MessageShape, ScalarType, toBinary } from "@bufbuild/protobuf";
import { implicitPresence, mayReadDefaultFromPrototype } from "./field-presence.js";
import { valueKind } from "./field-value-kind.js";
import { GeneratedFunction, property } from "./generated-function.js";
import { utf8Size, writeUtf8 } from "./utf8.js";
import { varint64Size, varintSize, writeVarint, writeVarint64 } from "./varint.js";

/**
 * An encoder compiled from a message's descriptor: it sizes the message
 * exactly, then writes it once into one buffer. protobuf-es's toBinary grows
 * its writer step by step and was most of a publisher's encoding cost; this
 * writes the same canonical bytes (fields by number, proto3 presence, map
 * entries with key and value, unknown fields last), which a property test over
 * every message of the schema compares with toBinary. Every field comes from
 * the descriptor, so a field added to the schema is encoded the day it is
 * generated, with no list to update. Each message's size and write are
 * generated as one straight-line function (generated-function.ts says why).
 */
export interface MessageEncoder<Desc extends DescMessage> {
  /** Bytes `message` encodes to. Throws on a value toBinary would refuse. */
  size(message: MessageShape<Desc>): number;
  /** Writes `message` (of `size` bytes, from size()) into `out` at `start`; answers where it ended. */
  write(message: MessageShape<Desc>, out: Buffer, start: number): number;
  /** The message's encoding; a value this encoder cannot write gets toBinary's answer (its error). */
  encode(message: MessageShape<Desc>): Uint8Array;
}

/** Which fields to write: all (the default), or those a filter keeps (for messages written in parts). */
export type FieldFilter = (field: DescField) => boolean;

/**
 * The encoder of `schema`: compiled once per descriptor, then shared. With
 * `keep`, a part of the message: only the fields it keeps, and the unknown
 * fields only when `withUnknown` (the part that passes the rest through).
 */
export function messageEncoder<Desc extends DescMessage>(schema: Desc, keep?: FieldFilter, withUnknown = keep === undefined): MessageEncoder<Desc> {
  const compiled = keep === undefined ? compiledMessage(schema) : compileMessage(schema, keep, withUnknown);
  return {
    size: compiled.size,
    write: compiled.write,
    encode(message) {
      let size: number;
      try {
        size = compiled.size(message);
      } catch {
        // toBinary names the field and what is wrong with its value.
        return toBinary(schema, message);
      }
      const out = Buffer.allocUnsafe(size);
      compiled.write(message, out, 0);
      return out;
    },
  };
}

// Values are read by descriptor from messages of any shape: the descriptor, not the type, says what they are.
// biome-ignore lint/suspicious/noExplicitAny: see above
type Value = any;

interface Compiled {
  size(value: Value): number;
  write(value: Value, out: Buffer, start: number): number;
}

const compiledMessages = new WeakMap<DescMessage, Compiled>();

/** The whole message's encoder, generated once per descriptor. */
function compiledMessage(schema: DescMessage): Compiled {
  let compiled = compiledMessages.get(schema);
  if (compiled === undefined) {
    // Registered before it is generated: a recursive message type calls itself through it.
    const registered: Compiled = { size: notCompiledYet, write: notCompiledYet };
    compiledMessages.set(schema, registered);
    const generated = compileMessage(schema, undefined, true);
    registered.size = generated.size;
    registered.write = generated.write;
    compiled = registered;
  }
  return compiled;
}

function notCompiledYet(): never {
  throw new Error("message encoder used before it was compiled");
}

/**
 * Generates `size(m)` and `write(m, out, at)` for the fields `keep` keeps,
 * in field-number order. Locals of the generated code: `s` the size, `at` the
 * write offset, `v` a field's value, `e` an element or map value, `kv` a map
 * key, `n` a length, `t` a packed field's or map entry's size.
 */
function compileMessage(schema: DescMessage, keep: FieldFilter | undefined, withUnknown: boolean): Compiled {
  const code = new GeneratedFunction();
  const h = helperNames(code);
  const sized: string[] = [];
  const written: string[] = [];
  const fields = schema.fields.filter((field) => keep === undefined || keep(field)).sort((a, b) => a.number - b.number);
  // Each field's locals are its own: a local that held a string for one field and a bigint for the next was slower.
  const locals = "let v, e, kv, n, t;";
  for (const field of fields) {
    const generated = fieldCode(field, code, h);
    sized.push(`{ ${locals} ${generated.size} }`);
    written.push(`{ ${locals} ${generated.write} }`);
  }
  if (withUnknown) {
    sized.push(
      `v = m.$unknown; if (v !== undefined) for (let i = 0; i < v.length; i++) { e = v[i]; s += ${h.varintSize}(e.no * 8 + e.wireType) + e.data.length; }`,
    );
    written.push(
      `{ ${locals} v = m.$unknown; if (v !== undefined) for (let i = 0; i < v.length; i++) { e = v[i]; at = ${h.writeVarint}(out, at, e.no * 8 + e.wireType); out.set(e.data, at); at += e.data.length; } }`,
    );
  }
  return code.build<Compiled>(`return {
  size(m) { let s = 0; ${sized.join("\n")} return s; },
  write(m, out, at) { ${written.join("\n")} return at; },
};`);
}

type Helpers = Record<keyof typeof helpers, string>;

/** What generated code calls, bound once per generated function. */
const helpers = {
  utf8Size,
  writeUtf8,
  varintSize,
  writeVarint,
  varint64Size,
  writeVarint64,
  int64,
  zigzag32,
  zigzag64,
  isUint32,
  isInt32,
  refuse,
};

function helperNames(code: GeneratedFunction): Helpers {
  const names: Partial<Helpers> = {};
  for (const [name, value] of Object.entries(helpers)) names[name as keyof Helpers] = code.bind(value, name);
  return names as Helpers;
}

interface Code {
  size: string;
  write: string;
}

function fieldCode(field: DescField, code: GeneratedFunction, h: Helpers): Code {
  switch (field.fieldKind) {
    case "scalar":
    case "enum":
    case "message":
      return singularCode(field, code, h);
    case "list":
      return listCode(field, code, h);
    case "map":
      return mapCode(field, code, h);
  }
}

/** Presence as toBinary decides it: oneof case, explicit presence (set at all), implicit (not the zero value). */
function singularCode(field: DescField & { fieldKind: "scalar" | "enum" | "message" }, code: GeneratedFunction, h: Helpers): Code {
  const value = valueCode(valueKind(field), code, h);
  const fieldTag = tagCode(field.number, value.wireType);
  const size = `s += ${fieldTag.size}; ${value.size("v", "s")}`;
  const write = `${fieldTag.write} ${value.write("v")}`;
  const name = JSON.stringify(field.localName);
  if (field.oneof !== undefined) {
    const oneof = property("m", field.oneof.localName);
    const guard = `if (${oneof}.case === ${name}) { v = ${oneof}.value;`;
    return { size: `${guard} ${size} }`, write: `${guard} ${write} }` };
  }
  const read = `v = ${property("m", field.localName)};`;
  const present = presenceTest(field);
  return { size: `${read} if (${present}) { ${size} }`, write: `${read} if (${present}) { ${write} }` };
}

function presenceTest(field: DescField & { fieldKind: "scalar" | "enum" | "message" }): string {
  if (mayReadDefaultFromPrototype(field)) return `v !== undefined && Object.hasOwn(m, ${JSON.stringify(field.localName)})`;
  if (field.presence !== implicitPresence) return "v !== undefined";
  if (field.fieldKind === "enum") return `v !== ${field.enum.values[0].number}`;
  if (field.fieldKind !== "scalar") return "v !== undefined";
  switch (field.scalar) {
    case ScalarType.BOOL:
      return "v !== false";
    case ScalarType.STRING:
      return 'v !== ""';
    case ScalarType.BYTES:
      return "!(v instanceof Uint8Array) || v.byteLength > 0";
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      // -0 is not the zero value: toBinary writes it.
      return "!Object.is(v, 0)";
    default:
      // 0, -0, 0n and "0" (64-bit values as strings) are all the zero value: the loose comparison makes all four equal to 0
      // (bigints are compared with 0n first: a loose comparison across types is the slower one).
      return '(typeof v === "bigint" ? v !== 0n : v != 0)';
  }
}

function listCode(field: DescField & { fieldKind: "list" }, code: GeneratedFunction, h: Helpers): Code {
  const element = valueCode(valueKind(field), code, h);
  const read = `v = ${property("m", field.localName)};`;
  const each = (body: string) => `for (let i = 0; i < v.length; i++) { e = v[i]; ${body} }`;
  if (field.packed && element.wireType !== lengthDelimited) {
    const fieldTag = tagCode(field.number, lengthDelimited);
    const packedSize = `t = 0; ${each(element.size("e", "t"))}`;
    return {
      size: `${read} if (v.length > 0) { ${packedSize} s += ${fieldTag.size} + ${h.varintSize}(t) + t; }`,
      write: `${read} if (v.length > 0) { ${fieldTag.write} ${packedSize} at = ${h.writeVarint}(out, at, t); ${each(element.write("e"))} }`,
    };
  }
  const fieldTag = tagCode(field.number, element.wireType);
  return {
    size: `${read} ${each(`s += ${fieldTag.size}; ${element.size("e", "s")}`)}`,
    write: `${read} ${each(`${fieldTag.write} ${element.write("e")}`)}`,
  };
}

/** Map entries: a message { key = 1; value = 2 } each, key and value always written, in the record's key order. */
function mapCode(field: DescField & { fieldKind: "map" }, code: GeneratedFunction, h: Helpers): Code {
  const key = valueCode(field.mapKey, code, h);
  const value = valueCode(valueKind(field), code, h);
  const fieldTag = tagCode(field.number, lengthDelimited);
  const entry = `e = v[k]; kv = ${mapKeyConversion(field.mapKey)}; t = 2; ${key.size("kv", "t")} ${value.size("e", "t")}`;
  const read = `v = ${property("m", field.localName)};`;
  return {
    size: `${read} for (const k in v) { ${entry} s += ${fieldTag.size} + ${h.varintSize}(t) + t; }`,
    write: `${read} for (const k in v) { ${entry} ${fieldTag.write} at = ${h.writeVarint}(out, at, t); out[at++] = ${tag(1, key.wireType)}; ${key.write("kv")} out[at++] = ${tag(2, value.wireType)}; ${value.write("e")} }`,
  };
}

/** Map keys are object keys (strings) in protobuf-es: back to their scalar type. */
function mapKeyConversion(type: ScalarType): string {
  switch (type) {
    case ScalarType.STRING:
      return "k";
    case ScalarType.BOOL:
      return 'k === "true"';
    case ScalarType.INT64:
    case ScalarType.UINT64:
    case ScalarType.SINT64:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return "BigInt(k)";
    default:
      return "Number(k)";
  }
}

/** A tag's bytes, written one by one. */
function tagCode(number: number, wireType: number): { size: number; write: string } {
  let rest = tag(number, wireType);
  let write = "";
  let size = 0;
  while (rest >= 0x80) {
    write += `out[at++] = ${(rest % 128) | 0x80}; `;
    rest = Math.floor(rest / 128);
    size++;
  }
  return { size: size + 1, write: `${write}out[at++] = ${rest};` };
}

/**
 * A value's code (after its tag): its wire type, statements that add its
 * size to a local (with its length prefix when length-delimited; values
 * toBinary would refuse throw, and the caller asks toBinary), and statements
 * that write it at `at`.
 */
interface ValueCode {
  wireType: number;
  size(value: string, total: string): string;
  write(value: string): string;
}

function valueCode(kind: ScalarType | DescMessage, code: GeneratedFunction, h: Helpers): ValueCode {
  if (typeof kind === "object") {
    const nested = code.bind(compiledMessage(kind), "message");
    return {
      wireType: lengthDelimited,
      size: (v, total) => `n = ${nested}.size(${v}); ${total} += ${h.varintSize}(n) + n;`,
      write: (v) => `n = ${nested}.size(${v}); at = ${h.writeVarint}(out, at, n); at = ${nested}.write(${v}, out, at);`,
    };
  }
  const check = (v: string, ok: string) => `if (!(${ok})) ${h.refuse}(${v});`;
  switch (kind) {
    case ScalarType.STRING:
      return {
        wireType: lengthDelimited,
        size: (v, total) => `${check(v, `typeof ${v} === "string"`)} n = ${h.utf8Size}(${v}); ${total} += (n < 128 ? 1 : ${h.varintSize}(n)) + n;`,
        write: (v) => `n = ${h.utf8Size}(${v}); if (n < 128) out[at++] = n; else at = ${h.writeVarint}(out, at, n); at = ${h.writeUtf8}(out, at, ${v}, n);`,
      };
    case ScalarType.BYTES:
      return {
        wireType: lengthDelimited,
        size: (v, total) => `${check(v, `${v} instanceof Uint8Array`)} ${total} += ${h.varintSize}(${v}.length) + ${v}.length;`,
        write: (v) => `at = ${h.writeVarint}(out, at, ${v}.length); out.set(${v}, at); at += ${v}.length;`,
      };
    case ScalarType.BOOL:
      return {
        wireType: varintType,
        size: (v, total) => `${check(v, `typeof ${v} === "boolean"`)} ${total} += 1;`,
        write: (v) => `out[at++] = ${v} ? 1 : 0;`,
      };
    case ScalarType.UINT32:
      return {
        wireType: varintType,
        size: (v, total) => `${check(v, `${h.isUint32}(${v})`)} ${total} += ${h.varintSize}(${v});`,
        write: (v) => `at = ${h.writeVarint}(out, at, ${v});`,
      };
    case ScalarType.INT32:
      return {
        wireType: varintType,
        size: (v, total) => `${check(v, `${h.isInt32}(${v})`)} ${total} += ${v} >= 0 ? ${h.varintSize}(${v}) : 10;`,
        write: (v) => `at = ${v} >= 0 ? ${h.writeVarint}(out, at, ${v}) : ${h.writeVarint64}(out, at, BigInt(${v}));`,
      };
    case ScalarType.SINT32:
      return {
        wireType: varintType,
        size: (v, total) => `${check(v, `${h.isInt32}(${v})`)} ${total} += ${h.varintSize}(${h.zigzag32}(${v}));`,
        write: (v) => `at = ${h.writeVarint}(out, at, ${h.zigzag32}(${v}));`,
      };
    case ScalarType.INT64:
    case ScalarType.UINT64: {
      // Most 64-bit values are small non-negative bigints: those take the Number path, the rest the checked bigint one.
      // Number() of a bigint past 2^53-1 is at least 2^53 (rounding keeps order), so the range test on it is exact.
      const small = (v: string) => `typeof ${v} === "bigint" && (n = Number(${v})) >= 0 && n <= ${Number.MAX_SAFE_INTEGER}`;
      return {
        wireType: varintType,
        size: (v, total) => `${total} += ${small(v)} ? ${h.varintSize}(n) : ${h.varint64Size}(${h.int64}(${v}, ${kind}));`,
        write: (v) => `at = ${small(v)} ? ${h.writeVarint}(out, at, n) : ${h.writeVarint64}(out, at, ${h.int64}(${v}, ${kind}));`,
      };
    }
    case ScalarType.SINT64:
      return {
        wireType: varintType,
        size: (v, total) => `${total} += ${h.varint64Size}(${h.zigzag64}(${h.int64}(${v}, ${kind})));`,
        write: (v) => `at = ${h.writeVarint64}(out, at, ${h.zigzag64}(${h.int64}(${v}, ${kind})));`,
      };
    case ScalarType.FIXED32:
      return fixedCode(fixed32Type, 4, (v) => `${h.isUint32}(${v})`, "writeUInt32LE", h);
    case ScalarType.SFIXED32:
      return fixedCode(fixed32Type, 4, (v) => `${h.isInt32}(${v})`, "writeInt32LE", h);
    case ScalarType.FLOAT:
      return fixedCode(fixed32Type, 4, (v) => `typeof ${v} === "number"`, "writeFloatLE", h);
    case ScalarType.DOUBLE:
      return fixedCode(fixed64Type, 8, (v) => `typeof ${v} === "number"`, "writeDoubleLE", h);
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return {
        wireType: fixed64Type,
        size: (v, total) => `${h.int64}(${v}, ${kind}); ${total} += 8;`,
        write: (v) => `at = out.writeBigUInt64LE(BigInt.asUintN(64, ${h.int64}(${v}, ${kind})), at);`,
      };
  }
}

function fixedCode(wireType: number, bytes: number, ok: (v: string) => string, writer: string, h: Helpers): ValueCode {
  return {
    wireType,
    size: (v, total) => `if (!(${ok(v)})) ${h.refuse}(${v}); ${total} += ${bytes};`,
    write: (v) => `at = out.${writer}(${v}, at);`,
  };
}

const varintType = 0;
const fixed64Type = 1;
const lengthDelimited = 2;
const fixed32Type = 5;

function tag(number: number, wireType: number): number {
  return number * 8 + wireType;
}

function refuse(value: Value): never {
  throw new TypeError(`not encodable: ${String(value).slice(0, 32)}`);
}

function checked(value: Value, ok: boolean): Value {
  if (!ok) refuse(value);
  return value;
}

function isUint32(value: Value): boolean {
  return typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= 0xffffffff;
}

function isInt32(value: Value): boolean {
  return typeof value === "number" && Number.isInteger(value) && value >= -0x80000000 && value <= 0x7fffffff;
}

function zigzag32(value: number): number {
  return ((value << 1) ^ (value >> 31)) >>> 0;
}

function zigzag64(value: bigint): bigint {
  return BigInt.asUintN(64, (value << 1n) ^ (value >> 63n));
}

/** A 64-bit value as bigint (protobuf-es holds them as bigint, or as string with jstype=JS_STRING), range-checked. */
function int64(value: Value, type: ScalarType): bigint {
  const big = typeof value === "bigint" ? value : BigInt(checked(value, typeof value === "string" || Number.isInteger(value)));
  const unsigned = type === ScalarType.UINT64 || type === ScalarType.FIXED64;
  const inRange = unsigned ? big >= 0n && big < twoTo64 : big >= -twoTo63 && big < twoTo63;
  return checked(big, inRange);
}

const twoTo63 = 2n ** 63n;
const twoTo64 = 2n ** 64n;
