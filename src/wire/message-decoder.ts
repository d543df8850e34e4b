import { type DescField, type DescMessage, type MessageShape, ScalarType, create, fromBinary } from "@bufbuild/protobuf";
import { BinaryReader, getTextEncoding } from "@bufbuild/protobuf/wire";
import { isWrapperDesc } from "@bufbuild/protobuf/wkt";
import { implicitPresence } from "./field-presence.js";
import { GeneratedFunction, property } from "./generated-function.js";

/**
 * A decoder compiled from a message's descriptor: the same messages as
 * protobuf-es's fromBinary (fields, defaults, `$unknown` in order, map keys
 * like "__proto__" as own properties, bytes as views of the input), which a
 * property test over every message of the schema compares. fromBinary reads
 * through a BinaryReader that answers each tag as an array and dispatches
 * every field through a Map of closures; a 10 K-event GetTimeline answer spent
 * most of its client time there and in the garbage it left. Each message here
 * is one generated function: a switch on the tag as written, values read
 * inline, the message built in the shape create() gives it.
 *
 * Only the usual encodings are decoded here: each field with its own wire
 * type (lists packed or not), fields within their message's bounds, a
 * message field given once. Anything else (a wire type that does not match,
 * a repeated message field that fromBinary would merge, a closed enum's
 * unknown value, a group, a varint too long for the inline reader) makes the
 * whole input go to fromBinary, so answers and errors stay fromBinary's.
 */
export interface MessageDecoder<Desc extends DescMessage, Shape = MessageShape<Desc>> {
  /** The message `bytes` encode; throws fromBinary's error when they are not one. */
  decode(bytes: Uint8Array): Shape;
  /** The message when `bytes` are usual (see above), decoded here; undefined when they are left to fromBinary. */
  decodeUsual(bytes: Uint8Array): Shape | undefined;
  /** decodeUsual of `bytes` from `start` to `end` (its bytes fields views of `bytes`), without a view of that range made first. */
  decodeUsualAt(bytes: Uint8Array, start: number, end: number): Shape | undefined;
  /** The message type it decodes. */
  readonly schema: Desc;
  /** How it answers 64-bit integers. */
  readonly longs: LongForm;
}

/**
 * A message whose 64-bit integers are numbers instead of bigints: what the
 * client's plain query results hold (event ids, sequence numbers, seconds).
 */
export type PlainMessage<T> = T extends bigint
  ? number
  : T extends Uint8Array
    ? T
    : T extends readonly (infer E)[]
      ? PlainMessage<E>[]
      : T extends object
        ? { [K in keyof T]: PlainMessage<T[K]> }
        : T;

/**
 * How 64-bit integers are answered: "bigint" as protobuf-es does, or "number"
 * (PlainMessage) when the value is exact as a number (|v| < 2^53) — a value
 * past that fails with a RangeError naming the field, never rounded.
 */
export type LongForm = "bigint" | "number";

/** The decoder of `schema` with 64-bit integers as bigints (fromBinary's messages). */
export function messageDecoder<Desc extends DescMessage>(schema: Desc): MessageDecoder<Desc>;
/** The decoder of `schema` with 64-bit integers as exact numbers. */
export function messageDecoder<Desc extends DescMessage>(schema: Desc, longs: "number"): MessageDecoder<Desc, PlainMessage<MessageShape<Desc>>>;
export function messageDecoder<Desc extends DescMessage>(schema: Desc, longs: LongForm = "bigint"): MessageDecoder<Desc, unknown> {
  const compiled = compiledMessage(schema, longs);
  const decodeUsualAt = (bytes: Uint8Array, start: number, end: number) => {
    text = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    try {
      return compiled.decode(bytes, start, end, 1);
    } catch (error) {
      if (error instanceof InexactNumberError) throw error;
      // Unusual or malformed input (a read past the end included): left to fromBinary.
      return undefined;
    } finally {
      // Nothing keeps the input alive past the call.
      lastBytes = undefined;
      lastReader = undefined;
      text = noBytes;
    }
  };
  const decodeUsual = (bytes: Uint8Array) => decodeUsualAt(bytes, 0, bytes.length);
  return {
    schema,
    longs,
    decodeUsual,
    decodeUsualAt,
    decode(bytes) {
      const message = decodeUsual(bytes);
      if (message !== undefined) return message;
      const decoded = fromBinary(schema, bytes);
      return longs === "number" ? numbersForLongs(decoded, schema.typeName) : decoded;
    },
  };
}

// Values are built by descriptor: the descriptor, not the type, says what they are.
// biome-ignore lint/suspicious/noExplicitAny: see above
type Value = any;

interface Compiled {
  /** The message in `bytes` from `at` to `end`; merged into `into` when given (a message field given again). */
  decode(bytes: Uint8Array, at: number, end: number, depth: number, into?: Value): Value;
}

/** Thrown by generated code for input it leaves to fromBinary. */
const unusual = new Error("leave it to fromBinary");

/** fromBinary's recursion limit: deeper input goes to fromBinary, which refuses it. */
const maxDepth = 100;

const compiledByForm: Record<LongForm, WeakMap<DescMessage, Compiled>> = { bigint: new WeakMap(), number: new WeakMap() };

function compiledMessage(schema: DescMessage, longs: LongForm): Compiled {
  const cache = compiledByForm[longs];
  let compiled = cache.get(schema);
  if (compiled === undefined) {
    // Registered before it is generated: a recursive message type calls itself through it.
    const registered: Compiled = { decode: notCompiledYet };
    cache.set(schema, registered);
    rememberFieldNames(schema);
    registered.decode = compileMessage(schema, longs).decode;
    compiled = registered;
  }
  return compiled;
}

function notCompiledYet(): never {
  throw new Error("message decoder used before it was compiled");
}

/** The position after the last value a helper read. */
const cursor = { at: 0 };

/** An unsigned varint of up to 32 bits in at most 5 bytes (tags, lengths); longer ones are unusual. */
function varint(bytes: Uint8Array, at: number): number {
  let byte = bytes[at];
  if (byte < 0x80) {
    cursor.at = at + 1;
    return byte;
  }
  let value = byte & 0x7f;
  byte = bytes[at + 1];
  if (byte < 0x80) {
    cursor.at = at + 2;
    return value | (byte << 7);
  }
  value |= (byte & 0x7f) << 7;
  byte = bytes[at + 2];
  if (byte < 0x80) {
    cursor.at = at + 3;
    return value | (byte << 14);
  }
  value |= (byte & 0x7f) << 14;
  byte = bytes[at + 3];
  if (byte < 0x80) {
    cursor.at = at + 4;
    return value | (byte << 21);
  }
  value |= (byte & 0x7f) << 21;
  byte = bytes[at + 4];
  // A fifth byte within 32 bits (tags of field numbers past 2^25, long lengths); anything longer is unusual.
  if (byte < 0x10) {
    cursor.at = at + 5;
    return value + byte * 2 ** 28;
  }
  throw unusual;
}

/**
 * An int32 or uint32 varint of up to 5 bytes as its low 32 bits (as
 * protobuf-es's varint32 reads it); cursor.at is -1 for a longer one (a
 * negative int32's 10 bytes), which protobuf-es's reader then reads.
 */
function varint32(bytes: Uint8Array, at: number): number {
  let value = 0;
  for (let index = 0; index < 4; index++) {
    const byte = bytes[at + index];
    if (byte === undefined) throw unusual;
    value |= (byte & 0x7f) << (7 * index);
    if (byte < 0x80) {
      cursor.at = at + index + 1;
      return value;
    }
  }
  const last = bytes[at + 4];
  if (last === undefined) throw unusual;
  if (last >= 0x80) {
    cursor.at = -1;
    return 0;
  }
  cursor.at = at + 5;
  return value | ((last & 0x0f) << 28);
}

/** A varint of up to 7 bytes (49 bits) as a number; longer ones are read by protobuf-es's reader. */
function varint49(bytes: Uint8Array, at: number): number {
  let value = 0;
  let scale = 1;
  for (let index = at; index < at + 7; index++) {
    const byte = bytes[index];
    if (byte === undefined) throw unusual;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) {
      cursor.at = index + 1;
      return value;
    }
    scale *= 128;
  }
  cursor.at = -1;
  return 0;
}

let lastReader: BinaryReader | undefined;
let lastBytes: Uint8Array | undefined;

/** protobuf-es's reader over `bytes` at `at`, for the rare encodings read by it (exactly as fromBinary reads them). */
function readerAt(bytes: Uint8Array, at: number): BinaryReader {
  if (lastReader === undefined || lastBytes !== bytes) {
    lastReader = new BinaryReader(bytes);
    lastBytes = bytes;
  }
  lastReader.pos = at;
  return lastReader;
}

const textEncoding = getTextEncoding();

/** The input as a Buffer (the same bytes), for native string slicing; set for each top-level decode. */
const noBytes = Buffer.alloc(0);
let text: Buffer = noBytes;

/**
 * A string field's value: ASCII sliced natively, the rest through protobuf-es's
 * decoder (the same replacement or refusal of bad UTF-8). Short ASCII strings
 * come from a small cache when the same bytes were seen recently: an answer
 * repeats its topics, stages, sources, tag names and correlation ids event
 * after event, and making each anew was a quarter of a timeline's decode and
 * much of its garbage.
 */
function utf8(bytes: Uint8Array, start: number, end: number, strict: boolean): string {
  const length = end - start;
  if (length > cachedStringBytes) return asciiOrUtf8(bytes, start, end, strict);
  if (length === 0) return "";
  // A few bytes pick the slot: the comparison below reads them all anyway, and a cached string is ASCII, so a match is too.
  const hash =
    Math.imul(Math.imul(Math.imul(length, 31) + bytes[start], 31) + bytes[end - 1], 31) +
    bytes[start + (length >> 2)] +
    Math.imul(bytes[end - 1 - (length >> 2)], 961);
  const slot = hash & (stringCache.length - 1);
  const cached = stringCache[slot];
  if (cached !== undefined && cached.length === length) {
    let index = 0;
    while (index < length && cached.charCodeAt(index) === bytes[start + index]) index++;
    if (index === length) return cached;
  }
  // Only ASCII is cached: the comparison above holds byte against character.
  if (!isAscii(bytes, start, end)) return textEncoding.decodeUtf8(bytes.subarray(start, end), strict);
  const decoded = text.toString("latin1", start, end);
  stringCache[slot] = decoded;
  return decoded;
}

/** The bytes as a string: ASCII sliced natively, anything else through protobuf-es's decoder. */
function asciiOrUtf8(bytes: Uint8Array, start: number, end: number, strict: boolean): string {
  return isAscii(bytes, start, end) ? text.toString("latin1", start, end) : textEncoding.decodeUtf8(bytes.subarray(start, end), strict);
}

function isAscii(bytes: Uint8Array, start: number, end: number): boolean {
  for (let index = start; index < end; index++) {
    if (bytes[index] > 0x7f) return false;
  }
  return true;
}

/** Longest string the cache holds (a UUID is 36 bytes), and its number of slots (a power of two). */
const cachedStringBytes = 64;
const stringCache: (string | undefined)[] = new Array(1024).fill(undefined);

/** Sets `record[key]` as an own property, also for "__proto__" (as protobuf-es's setOwn). */
function setOwn(record: Record<string, unknown>, key: string, value: unknown): void {
  if (key === "__proto__") Object.defineProperty(record, key, { value, writable: true, enumerable: true, configurable: true });
  else record[key] = value;
}

/** A 64-bit integer of the plain form that a number cannot hold exactly. */
export class InexactNumberError extends RangeError {}

/** A bigint as an exact number, or an InexactNumberError naming `field`. */
function exactNumber(value: bigint, field: string): number {
  if (value > maxExact || value < -maxExact) {
    throw new InexactNumberError(`${field}: ${value} is not exact as a number (past 2^53); read it as a bigint through the client's service`);
  }
  return Number(value);
}

const maxExact = BigInt(Number.MAX_SAFE_INTEGER);

/** The end of an unknown field's value starting at `at` (after its tag); groups as protobuf-es skips them. */
function skipUnknown(bytes: Uint8Array, at: number, tag: number, end: number, depth: number): number {
  let next: number;
  switch (tag & 7) {
    case 0:
      next = at;
      while (next < end && bytes[next] >= 0x80) next++;
      next++;
      break;
    case 1:
      next = at + 8;
      break;
    case 2:
      next = varint(bytes, at);
      next = cursor.at + next;
      break;
    case 3: {
      const reader = readerAt(bytes, at);
      reader.skip(3, Math.floor(tag / 8), maxDepth - depth);
      next = reader.pos;
      break;
    }
    case 5:
      next = at + 4;
      break;
    default:
      throw unusual;
  }
  if (next > end) throw unusual;
  return next;
}

/** Every value generated code calls, bound once per generated function. */
const helpers = { varint, varint32, varint49, readerAt, utf8, setOwn, exactNumber, skipUnknown, unusual, cursor, maxDepth };
type Helpers = Record<keyof typeof helpers, string>;

/**
 * Generates `decode(b, at, end, depth)`. Locals of the generated code: `m`
 * the message, `t` a tag, `n` a length, `e` an end, `v` a value, `k` a map
 * key, `u` the unknown fields.
 */
function compileMessage(schema: DescMessage, longs: LongForm): Compiled {
  const code = new GeneratedFunction();
  const h = Object.fromEntries(Object.entries(helpers).map(([name, value]) => [name, code.bind(value, name)])) as Helpers;
  const cases: string[] = [];
  for (const field of schema.fields) cases.push(...fieldCases(field, code, h, longs));
  const prototype = needsPrototype(schema) ? code.bind(prototypeOf(schema, longs), "prototype") : undefined;
  return code.build<Compiled>(`return { decode(b, at, end, depth, into) {
  if (depth > ${h.maxDepth}) throw ${h.unusual};
  let m;
  if (into !== undefined) m = into;
  else { ${newMessage(schema, code, prototype, longs)} }
  let u = m.$unknown, t, n, e, v, k;
  while (at < end) {
    t = b[at];
    if (t < 0x80) at++; else { t = ${h.varint}(b, at); at = ${h.cursor}.at; }
    switch (t) {
      ${cases.join("\n      ")}
      default:
        if ((t & 7) === 4 || t < 8) throw ${h.unusual};
        n = ${h.skipUnknown}(b, at, t, end, depth);
        (u ??= []).push({ no: t >>> 3, wireType: t & 7, data: b.subarray(at, n) });
        at = n;
    }
  }
  if (at !== end) throw ${h.unusual};
  if (u !== undefined) m.$unknown = u;
  return m;
} };`);
}

/** The message as create() makes it: $typeName, then each member's zero value (message fields absent). */
function newMessage(schema: DescMessage, code: GeneratedFunction, prototype: string | undefined, longs: LongForm): string {
  const typeName = JSON.stringify(schema.typeName);
  const members: string[] = [];
  for (const member of schema.members) {
    const name = JSON.stringify(member.localName);
    if (member.kind === "oneof") members.push(`${name}: { case: undefined }`);
    else if (member.fieldKind === "list") members.push(`${name}: []`);
    else if (member.fieldKind === "map") members.push(`${name}: {}`);
    else if (member.fieldKind !== "message" && member.presence === implicitPresence) members.push(`${name}: ${zeroLiteral(member, code, longs)}`);
  }
  // One literal: V8 makes the object in its final shape at once, where a property set at a time moved it through a shape per member.
  // A literal's "__proto__" would set the prototype instead: such a message keeps one assignment per member.
  if (prototype === undefined && !schema.members.some((member) => member.localName === "__proto__")) {
    return `m = { $typeName: ${typeName}${members.map((member) => `, ${member}`).join("")} };`;
  }
  const start = prototype === undefined ? `m = { $typeName: ${typeName} };` : `m = Object.create(${prototype}); m.$typeName = ${typeName};`;
  return `${start} ${members
    .map((member) => {
      const colon = member.indexOf(": ");
      return `m[${member.slice(0, colon)}] = ${member.slice(colon + 2)};`;
    })
    .join(" ")}`;
}

/** create()'s prototype of `schema` (the defaults of its explicit-presence scalars), in the plain form with numbers. */
function prototypeOf(schema: DescMessage, longs: LongForm): object {
  const prototype = Object.getPrototypeOf(create(schema));
  return longs === "number" ? numbersForLongs({ ...prototype }, schema.typeName) : prototype;
}

/** protobuf-es keeps the defaults of explicit-presence scalars on a prototype outside proto3 (create.js's needsPrototypeChain). */
function needsPrototype(schema: DescMessage): boolean {
  return Object.getPrototypeOf(create(schema)) !== Object.prototype;
}

function zeroLiteral(field: DescField, code: GeneratedFunction, longs: LongForm): string {
  if (field.fieldKind === "enum") return String(field.enum.values[0].number);
  if (field.fieldKind !== "scalar") throw new Error(`no zero literal for ${field}`);
  switch (field.scalar) {
    case ScalarType.STRING:
      return '""';
    case ScalarType.BOOL:
      return "false";
    case ScalarType.BYTES:
      return "new Uint8Array(0)";
    default:
      if (!isLong(field.scalar)) return "0";
      // The zero value create() gives: 0n, or "0" for a long as string; 0 in the plain form.
      return field.longAsString ? '"0"' : longs === "number" ? "0" : code.bind(0n, "zero");
  }
}

function isLong(type: ScalarType): boolean {
  return type === ScalarType.INT64 || type === ScalarType.UINT64 || type === ScalarType.SINT64 || type === ScalarType.FIXED64 || type === ScalarType.SFIXED64;
}

/** The wire type a value of `type` is written with. */
function wireTypeOf(type: ScalarType): number {
  switch (type) {
    case ScalarType.DOUBLE:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return 1;
    case ScalarType.FLOAT:
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
      return 5;
    case ScalarType.STRING:
    case ScalarType.BYTES:
      return 2;
    default:
      return 0;
  }
}

/** A tag as written, for a case label (field numbers up to 2^29: no 32-bit overflow with a product). */
function tagLabel(number: number, wireType: number): number {
  return number * 8 + wireType;
}

/**
 * Code that reads one scalar value at `at` into `v` and moves `at` past it.
 * `name` is the field's full name, for the plain form's RangeError.
 */
function readScalar(type: ScalarType, utf8Strict: boolean, longAsString: boolean, longs: LongForm, name: string, h: Helpers): string {
  const slow = (method: string) => `{ const r = ${h.readerAt}(b, at); v = r.${method}(); at = r.pos; if (at > end) throw ${h.unusual}; }`;
  switch (type) {
    case ScalarType.STRING:
      return `n = ${h.varint}(b, at); at = ${h.cursor}.at; if (at + n > end) throw ${h.unusual}; v = ${h.utf8}(b, at, at + n, ${utf8Strict}); at += n;`;
    case ScalarType.BYTES:
      return `n = ${h.varint}(b, at); at = ${h.cursor}.at; if (at + n > end) throw ${h.unusual}; v = b.subarray(at, at + n); at += n;`;
    case ScalarType.BOOL:
      return `v = b[at]; if (v < 0x80) { v = v !== 0; at++; } else ${slow("bool")}`;
    case ScalarType.INT32:
      return `v = b[at]; if (v < 0x80) at++; else { v = ${h.varint32}(b, at); if (${h.cursor}.at > 0) { at = ${h.cursor}.at; if (at > end) throw ${h.unusual}; } else ${slow("int32")} }`;
    case ScalarType.UINT32:
      return `v = b[at]; if (v < 0x80) at++; else { v = ${h.varint32}(b, at) >>> 0; if (${h.cursor}.at > 0) { at = ${h.cursor}.at; if (at > end) throw ${h.unusual}; } else ${slow("uint32")} }`;
    case ScalarType.SINT32:
      return slow("sint32");
    case ScalarType.FIXED32:
      return slow("fixed32");
    case ScalarType.SFIXED32:
      return slow("sfixed32");
    case ScalarType.FLOAT:
      return slow("float");
    case ScalarType.DOUBLE:
      return slow("double");
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
    case ScalarType.INT64:
    case ScalarType.UINT64:
    case ScalarType.SINT64: {
      const method = {
        [ScalarType.FIXED64]: "fixed64",
        [ScalarType.SFIXED64]: "sfixed64",
        [ScalarType.INT64]: "int64",
        [ScalarType.UINT64]: "uint64",
        [ScalarType.SINT64]: "sint64",
      }[type];
      const asForm = longAsString ? "v = String(v);" : longs === "number" ? `v = ${h.exactNumber}(v, ${JSON.stringify(name)});` : "";
      if (type === ScalarType.INT64 || type === ScalarType.UINT64) {
        // Up to 49 bits (every id, count and second seen in practice) without protobuf-es's reader; a 49-bit varint is positive in both.
        const fast = longs === "number" && !longAsString ? "v = n;" : longAsString ? "v = String(n);" : `v = BigInt(n);`;
        return `n = ${h.varint49}(b, at); if (${h.cursor}.at > 0) { at = ${h.cursor}.at; if (at > end) throw ${h.unusual}; ${fast} } else { ${slow(method)} ${asForm} }`;
      }
      return `${slow(method)} ${asForm}`;
    }
  }
  throw new Error(`unknown scalar type ${type}`);
}

/** Whether the decoded value of a closed enum `field` is one of its values; other values are unusual (fromBinary keeps them as unknown fields). */
function closedEnumCheck(field: DescField, code: GeneratedFunction, h: Helpers): string {
  const enumDesc =
    field.fieldKind === "enum"
      ? field.enum
      : field.fieldKind === "list" && field.listKind === "enum"
        ? field.enum
        : field.fieldKind === "map" && field.mapKind === "enum"
          ? field.enum
          : undefined;
  if (enumDesc === undefined || enumDesc.open) return "";
  const known = code.bind(new Set(enumDesc.values.map((value) => value.number)), "enumValues");
  return `if (!${known}.has(v)) throw ${h.unusual};`;
}

/** The case labels and code of `field` for the wire types read here; any other wire type goes to the default (unknown) branch. */
function fieldCases(field: DescField, code: GeneratedFunction, h: Helpers, longs: LongForm): string[] {
  const target = property("m", field.localName);
  const name = `${field.parent.typeName}.${field.name}`;
  const strict = field.fieldKind !== "message" && field.utf8Validation === true;
  // Other wire types of a known field are unusual: fromBinary reads them as the field's type anyway.
  const others = (expected: number[]) =>
    [0, 1, 2, 3, 5].filter((wireType) => !expected.includes(wireType)).map((wireType) => `case ${tagLabel(field.number, wireType)}: throw ${h.unusual};`);
  switch (field.fieldKind) {
    case "scalar":
    case "enum": {
      const type = field.fieldKind === "enum" ? ScalarType.INT32 : field.scalar;
      const wireType = wireTypeOf(type);
      const longAsString = field.fieldKind === "scalar" && field.longAsString;
      const read = readScalar(type, strict, longAsString, longs, name, h) + closedEnumCheck(field, code, h);
      const store =
        field.oneof === undefined ? `${target} = v;` : `${property("m", field.oneof.localName)} = { case: ${JSON.stringify(field.localName)}, value: v };`;
      return [`case ${tagLabel(field.number, wireType)}: { ${read} ${store} break; }`, ...others([wireType])];
    }
    case "message": {
      if (field.delimitedEncoding || usesJsonRepresentation(field.message)) return others([]);
      const child = code.bind(childDecoder(field.message, longs), "child");
      const caseName = JSON.stringify(field.localName);
      // A message field given again merges into the first value (as in fromBinary: storage writes an event's metadata in two parts).
      const decodeChild = (existing: string) =>
        `n = ${h.varint}(b, at); at = ${h.cursor}.at; e = at + n; if (e > end) throw ${h.unusual}; v = ${child}.decode(b, at, e, depth + 1, ${existing}); at = e;`;
      let read: string;
      if (field.oneof !== undefined) {
        const oneof = property("m", field.oneof.localName);
        read = `${decodeChild(`${oneof}.case === ${caseName} ? ${oneof}.value : undefined`)} ${oneof} = { case: ${caseName}, value: v };`;
      } else if (isWrapperDesc(field.message)) {
        // Unwrapped to its value: a second one would merge into a wrapper that no longer exists here.
        read = `if (${target} !== undefined) throw ${h.unusual}; ${decodeChild("undefined")} ${target} = v${property("", field.message.fields[0].localName)};`;
      } else {
        read = `${decodeChild(target)} ${target} = v;`;
      }
      return [`case ${tagLabel(field.number, 2)}: { ${read} break; }`, ...others([2])];
    }
    case "list": {
      if (field.listKind === "message") {
        if (field.delimitedEncoding || usesJsonRepresentation(field.message)) return others([]);
        const child = code.bind(childDecoder(field.message, longs), "child");
        return [
          `case ${tagLabel(field.number, 2)}: { n = ${h.varint}(b, at); at = ${h.cursor}.at; e = at + n; if (e > end) throw ${h.unusual}; ${target}.push(${child}.decode(b, at, e, depth + 1)); at = e; break; }`,
          ...others([2]),
        ];
      }
      const type = field.listKind === "enum" ? ScalarType.INT32 : field.scalar;
      const longAsString = field.listKind === "scalar" && field.longAsString;
      const read = readScalar(type, strict, longAsString, longs, name, h) + closedEnumCheck(field, code, h);
      const wireType = wireTypeOf(type);
      const cases = [`case ${tagLabel(field.number, wireType)}: { ${read} ${target}.push(v); break; }`];
      if (wireType !== 2) {
        // Packed: the values one after another in one length-delimited field (as fromBinary, packed or not, whatever the field says).
        cases.push(
          `case ${tagLabel(field.number, 2)}: { n = ${h.varint}(b, at); at = ${h.cursor}.at; const end2 = at + n; if (end2 > end) throw ${h.unusual}; { const end = end2; while (at < end) { ${read} ${target}.push(v); } if (at !== end) throw ${h.unusual}; } break; }`,
        );
      }
      return [...cases, ...others(wireType === 2 ? [2] : [wireType, 2])];
    }
    case "map":
      return [`case ${tagLabel(field.number, 2)}: { ${mapEntry(field, code, h, longs, name, strict)} break; }`, ...others([2])];
  }
}

/** Code that reads one map entry (key 1, value 2, each given at most once) into the field's record. */
function mapEntry(field: DescField & { fieldKind: "map" }, code: GeneratedFunction, h: Helpers, longs: LongForm, name: string, strict: boolean): string {
  const target = property("m", field.localName);
  // Keys become property names: a 64-bit key's name is its decimal digits in either form.
  const keyRead = readScalar(field.mapKey, strict, isLong(field.mapKey), "bigint", name, h);
  const keyType = wireTypeOf(field.mapKey);
  const keyZero = field.mapKey === ScalarType.STRING ? '""' : field.mapKey === ScalarType.BOOL ? "false" : "0";
  let valueRead: string;
  let valueType: number;
  let valueZero: string;
  if (field.mapKind === "message") {
    if (usesJsonRepresentation(field.message)) throw new Error(`map of ${field.message.typeName} values is not supported by the compiled decoder`);
    const child = code.bind(childDecoder(field.message, longs), "child");
    valueRead = `n = ${h.varint}(b, at); at = ${h.cursor}.at; const e2 = at + n; if (e2 > e) throw ${h.unusual}; v = ${child}.decode(b, at, e2, depth + 1); at = e2;`;
    valueType = 2;
    valueZero = `${child}.decode(b, 0, 0, depth + 1)`;
  } else {
    const type = field.mapKind === "enum" ? ScalarType.INT32 : field.scalar;
    valueRead = readScalar(type, strict, false, longs, name, h) + closedEnumCheck(field, code, h);
    valueType = wireTypeOf(type);
    valueZero =
      field.mapKind === "enum"
        ? String(field.enum.values[0].number)
        : type === ScalarType.STRING
          ? '""'
          : type === ScalarType.BOOL
            ? "false"
            : type === ScalarType.BYTES
              ? "new Uint8Array(0)"
              : isLong(type) && longs === "bigint"
                ? code.bind(0n, "zero")
                : "0";
  }
  // Inside the entry, `end` is the entry's end: every read checks against it.
  return `n = ${h.varint}(b, at); at = ${h.cursor}.at; e = at + n; if (e > end) throw ${h.unusual};
    { const end = e; let key, value;
      while (at < end) {
        const et = b[at++];
        if (et === ${tagLabel(1, keyType)} && key === undefined) { ${keyRead.replace(/\bv\b/g, "k")} key = k; }
        else if (et === ${tagLabel(2, valueType)} && value === undefined) { ${valueRead} value = v; }
        else throw ${h.unusual};
      }
      if (at !== end) throw ${h.unusual};
      ${h.setOwn}(${target}, String(key ?? ${keyZero}), value ?? ${valueZero});
    }`;
}

/** google.protobuf.Struct, Value and ListValue fields are JSON values in protobuf-es: left to fromBinary. */
function usesJsonRepresentation(message: DescMessage): boolean {
  return message.typeName === "google.protobuf.Struct" || message.typeName === "google.protobuf.Value" || message.typeName === "google.protobuf.ListValue";
}

/** The compiled decoder of a nested message, resolved when first called (a recursive type is registered by then). */
function childDecoder(schema: DescMessage, longs: LongForm): Compiled {
  let compiled: Compiled | undefined;
  return {
    decode(bytes, at, end, depth, into) {
      compiled ??= compiledMessage(schema, longs);
      return compiled.decode(bytes, at, end, depth, into);
    },
  };
}

/**
 * `message` (of `schema`) in the plain form: its 64-bit integers as exact
 * numbers, changed in place (or an InexactNumberError naming the field), for
 * a message the plain decoder did not decode itself.
 */
export function plainMessage<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): PlainMessage<MessageShape<Desc>> {
  rememberFieldNames(schema);
  return numbersForLongs(message, schema.typeName);
}

/** fromBinary's message with its 64-bit integers as exact numbers (the plain form, for input decoded by fromBinary). */
function numbersForLongs(value: Value, where: string): Value {
  if (typeof value === "bigint") return exactNumber(value, where);
  if (value === null || typeof value !== "object" || value instanceof Uint8Array) return value;
  if (Array.isArray(value)) {
    for (let index = 0; index < value.length; index++) value[index] = numbersForLongs(value[index], where);
    return value;
  }
  for (const key of Object.keys(value)) {
    const converted = numbersForLongs(value[key], typeof value.$typeName === "string" ? `${value.$typeName}.${protoName(value.$typeName, key)}` : where);
    if (converted !== value[key]) setOwn(value, key, converted);
  }
  return value;
}

/** The proto name of field `localName` of message `typeName` (how errors name it), or the local name when unknown. */
function protoName(typeName: string, localName: string): string {
  return fieldNames.get(typeName)?.get(localName) ?? localName;
}

const fieldNames = new Map<string, Map<string, string>>();

/** Remembers the field names of `schema` and of every message it holds (fromBinary's fallback may meet any of them). */
function rememberFieldNames(schema: DescMessage): void {
  if (fieldNames.has(schema.typeName)) return;
  fieldNames.set(schema.typeName, new Map(schema.fields.map((field) => [field.localName, field.name])));
  for (const field of schema.fields) if (field.message !== undefined) rememberFieldNames(field.message);
}
