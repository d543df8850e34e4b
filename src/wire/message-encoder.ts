import { type DescField, type DescMessage, type MessageShape, ScalarType, toBinary } from "@bufbuild/protobuf";
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
 * generated, with no list to update.
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

/** A value's codec (no tag): its wire type, size and writer. */
interface ValueCodec extends Compiled {
  wireType: number;
  /** Writes the value with its length prefix, sizing it once (strings: their UTF-8 size is a scan). */
  writeFramed?(value: Value, out: Buffer, start: number): number;
}

const compiledMessages = new WeakMap<DescMessage, Compiled>();

function compiledMessage(schema: DescMessage): Compiled {
  return compiledMessages.get(schema) ?? compileMessage(schema, undefined, true);
}

function compileMessage(schema: DescMessage, keep: FieldFilter | undefined, withUnknown: boolean): Compiled {
  const fields: Compiled[] = [];
  const compiled: Compiled = {
    size(message) {
      let size = 0;
      for (let index = 0; index < fields.length; index++) size += fields[index].size(message);
      const unknown = message.$unknown;
      if (withUnknown && unknown !== undefined) {
        for (const { no, wireType, data } of unknown) size += varintSize(tag(no, wireType)) + data.length;
      }
      return size;
    },
    write(message, out, start) {
      let at = start;
      for (let index = 0; index < fields.length; index++) at = fields[index].write(message, out, at);
      const unknown = message.$unknown;
      if (withUnknown && unknown !== undefined) {
        for (const { no, wireType, data } of unknown) {
          at = writeVarint(out, at, tag(no, wireType));
          out.set(data, at);
          at += data.length;
        }
      }
      return at;
    },
  };
  // Registered before its fields: a recursive message type finds itself.
  if (keep === undefined) compiledMessages.set(schema, compiled);
  const sorted = schema.fields.filter((field) => keep === undefined || keep(field)).sort((a, b) => a.number - b.number);
  for (const field of sorted) fields.push(compileField(field));
  return compiled;
}

function compileField(field: DescField): Compiled {
  switch (field.fieldKind) {
    case "scalar":
    case "enum":
    case "message":
      return compileSingular(field, valueCodecOf(field));
    case "list":
      return compileList(field);
    case "map":
      return compileMap(field);
  }
}

/** Presence as toBinary decides it: oneof case, explicit presence (set at all), implicit (not the zero value). */
function compileSingular(field: DescField, value: ValueCodec): Compiled {
  const name = field.localName;
  const tagBytes = varintSize(tag(field.number, value.wireType));
  const fieldTag = tag(field.number, value.wireType);
  const present = presenceOf(field);
  const oneof = field.oneof?.localName;
  const read = oneof === undefined ? (message: Value) => message[name] : (message: Value) => message[oneof].value;
  return {
    size(message) {
      if (!present(message)) return 0;
      return tagBytes + framed(value, read(message));
    },
    write(message, out, start) {
      if (!present(message)) return start;
      const at = writeVarint(out, start, fieldTag);
      return writeFramed(value, read(message), out, at);
    },
  };
}

const implicitPresence = 2;

function presenceOf(field: DescField): (message: Value) => boolean {
  const name = field.localName;
  if (field.oneof !== undefined) {
    const oneof = field.oneof.localName;
    return (message) => message[oneof].case === name;
  }
  if (field.presence !== implicitPresence) {
    return (message) => message[name] !== undefined && Object.hasOwn(message, name);
  }
  if (field.fieldKind === "enum") return (message) => message[name] !== field.enum.values[0].number;
  if (field.fieldKind !== "scalar") return (message) => message[name] !== undefined;
  switch (field.scalar) {
    case ScalarType.BOOL:
      return (message) => message[name] !== false;
    case ScalarType.STRING:
      return (message) => message[name] !== "";
    case ScalarType.BYTES:
      return (message) => !(message[name] instanceof Uint8Array) || message[name].byteLength > 0;
    default:
      // 0, -0, 0n and "0" (64-bit values as strings) are all the zero value.
      // biome-ignore lint/suspicious/noDoubleEquals: the loose comparison is what makes all four equal to 0
      return (message) => message[name] != 0;
  }
}

function compileList(field: DescField & { fieldKind: "list" }): Compiled {
  const name = field.localName;
  const element = field.listKind === "message" ? messageValue(field.message) : scalarCodec(field.listKind === "enum" ? ScalarType.INT32 : field.scalar);
  if (field.packed && element.wireType !== lengthDelimited) {
    const fieldTag = tag(field.number, lengthDelimited);
    const packedSize = (items: Value[]) => {
      let size = 0;
      for (let index = 0; index < items.length; index++) size += element.size(items[index]);
      return size;
    };
    return {
      size(message) {
        const items = message[name];
        if (items.length === 0) return 0;
        const size = packedSize(items);
        return varintSize(fieldTag) + varintSize(size) + size;
      },
      write(message, out, start) {
        const items = message[name];
        if (items.length === 0) return start;
        let at = writeVarint(out, start, fieldTag);
        at = writeVarint(out, at, packedSize(items));
        for (let index = 0; index < items.length; index++) at = element.write(items[index], out, at);
        return at;
      },
    };
  }
  const fieldTag = tag(field.number, element.wireType);
  const tagBytes = varintSize(fieldTag);
  return {
    size(message) {
      const items = message[name];
      let size = 0;
      for (let index = 0; index < items.length; index++) size += tagBytes + framed(element, items[index]);
      return size;
    },
    write(message, out, start) {
      const items = message[name];
      let at = start;
      for (let index = 0; index < items.length; index++) {
        at = writeVarint(out, at, fieldTag);
        at = writeFramed(element, items[index], out, at);
      }
      return at;
    },
  };
}

/** Map entries: a message { key = 1; value = 2 } each, key and value always written, in the record's key order. */
function compileMap(field: DescField & { fieldKind: "map" }): Compiled {
  const name = field.localName;
  const key = scalarCodec(field.mapKey);
  const toKey = mapKeyConverter(field.mapKey);
  const value = field.mapKind === "message" ? messageValue(field.message) : scalarCodec(field.mapKind === "enum" ? ScalarType.INT32 : field.scalar);
  const fieldTag = tag(field.number, lengthDelimited);
  const keyTag = tag(1, key.wireType);
  const valueTag = tag(2, value.wireType);
  const entrySize = (record: Record<string, Value>, entry: string) => 2 + framed(key, toKey(entry)) + framed(value, record[entry]);
  return {
    size(message) {
      const record = message[name];
      let size = 0;
      for (const entry in record) {
        const entryBytes = entrySize(record, entry);
        size += varintSize(fieldTag) + varintSize(entryBytes) + entryBytes;
      }
      return size;
    },
    write(message, out, start) {
      const record = message[name];
      let at = start;
      for (const entry in record) {
        at = writeVarint(out, at, fieldTag);
        at = writeVarint(out, at, entrySize(record, entry));
        out[at++] = keyTag;
        at = writeFramed(key, toKey(entry), out, at);
        out[at++] = valueTag;
        at = writeFramed(value, record[entry], out, at);
      }
      return at;
    },
  };
}

/** Map keys are object keys (strings) in protobuf-es: back to their scalar type. */
function mapKeyConverter(type: ScalarType): (key: string) => Value {
  switch (type) {
    case ScalarType.STRING:
      return (key) => key;
    case ScalarType.BOOL:
      return (key) => key === "true";
    case ScalarType.INT64:
    case ScalarType.UINT64:
    case ScalarType.SINT64:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return (key) => BigInt(key);
    default:
      return (key) => Number(key);
  }
}

/** Size of a value as written after its tag: length-delimited values with their length. */
function framed(codec: ValueCodec, value: Value): number {
  const size = codec.size(value);
  return codec.wireType === lengthDelimited ? varintSize(size) + size : size;
}

function writeFramed(codec: ValueCodec, value: Value, out: Buffer, start: number): number {
  if (codec.wireType !== lengthDelimited) return codec.write(value, out, start);
  if (codec.writeFramed !== undefined) return codec.writeFramed(value, out, start);
  return codec.write(value, out, writeVarint(out, start, codec.size(value)));
}

function valueCodecOf(field: DescField & { fieldKind: "scalar" | "enum" | "message" }): ValueCodec {
  if (field.fieldKind === "message") return messageValue(field.message);
  return scalarCodec(field.fieldKind === "enum" ? ScalarType.INT32 : field.scalar);
}

function messageValue(schema: DescMessage): ValueCodec {
  // Looked up on first use: the nested message may still be compiling (recursive types).
  let nested: Compiled | undefined;
  return {
    wireType: lengthDelimited,
    size: (value) => (nested ??= compiledMessage(schema)).size(value),
    write: (value, out, start) => (nested ??= compiledMessage(schema)).write(value, out, start),
  };
}

const varintType = 0;
const fixed64Type = 1;
const lengthDelimited = 2;
const fixed32Type = 5;

function tag(number: number, wireType: number): number {
  return number * 8 + wireType;
}

/** The codec of one scalar type; values toBinary would refuse throw (the caller then asks toBinary). */
function scalarCodec(type: ScalarType): ValueCodec {
  switch (type) {
    case ScalarType.STRING:
      return {
        wireType: lengthDelimited,
        size: (value) => utf8Size(checked(value, typeof value === "string")),
        write: writeString,
        writeFramed: (value: string, out, start) => {
          const size = utf8Size(value);
          return writeUtf8(out, writeVarint(out, start, size), value, size);
        },
      };
    case ScalarType.BYTES:
      return {
        wireType: lengthDelimited,
        size: (value) => checked(value, value instanceof Uint8Array).length,
        write: (value, out, start) => {
          out.set(value, start);
          return start + value.length;
        },
        writeFramed: (value: Uint8Array, out, start) => {
          const at = writeVarint(out, start, value.length);
          out.set(value, at);
          return at + value.length;
        },
      };
    case ScalarType.BOOL:
      return {
        wireType: varintType,
        size: (value) => (checked(value, typeof value === "boolean"), 1),
        write: (value, out, start) => {
          out[start] = value ? 1 : 0;
          return start + 1;
        },
      };
    case ScalarType.UINT32:
      return {
        wireType: varintType,
        size: (value) => varintSize(checked(value, isUint32(value))),
        write: (value, out, start) => writeVarint(out, start, value),
      };
    case ScalarType.INT32:
      return {
        wireType: varintType,
        size: (value) => (checked(value, isInt32(value)) >= 0 ? varintSize(value) : 10),
        write: (value, out, start) => (value >= 0 ? writeVarint(out, start, value) : writeVarint64(out, start, BigInt(value))),
      };
    case ScalarType.SINT32:
      return {
        wireType: varintType,
        size: (value) => varintSize(zigzag32(checked(value, isInt32(value)))),
        write: (value, out, start) => writeVarint(out, start, zigzag32(value)),
      };
    case ScalarType.INT64:
    case ScalarType.UINT64:
      return {
        wireType: varintType,
        size: (value) => varint64Size(int64(value, type)),
        write: (value, out, start) => writeVarint64(out, start, int64(value, type)),
      };
    case ScalarType.SINT64:
      return {
        wireType: varintType,
        size: (value) => varint64Size(zigzag64(int64(value, type))),
        write: (value, out, start) => writeVarint64(out, start, zigzag64(int64(value, type))),
      };
    case ScalarType.FIXED32:
      return { wireType: fixed32Type, size: (value) => (checked(value, isUint32(value)), 4), write: (value, out, start) => out.writeUInt32LE(value, start) };
    case ScalarType.SFIXED32:
      return { wireType: fixed32Type, size: (value) => (checked(value, isInt32(value)), 4), write: (value, out, start) => out.writeInt32LE(value, start) };
    case ScalarType.FLOAT:
      return {
        wireType: fixed32Type,
        size: (value) => (checked(value, typeof value === "number"), 4),
        write: (value, out, start) => out.writeFloatLE(value, start),
      };
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return {
        wireType: fixed64Type,
        size: (value) => (int64(value, type), 8),
        write: (value, out, start) => out.writeBigUInt64LE(BigInt.asUintN(64, int64(value, type)), start),
      };
    case ScalarType.DOUBLE:
      return {
        wireType: fixed64Type,
        size: (value) => (checked(value, typeof value === "number"), 8),
        write: (value, out, start) => out.writeDoubleLE(value, start),
      };
  }
}

function writeString(value: string, out: Buffer, start: number): number {
  return writeUtf8(out, start, value, utf8Size(value));
}

function checked(value: Value, ok: boolean): Value {
  if (!ok) throw new TypeError(`not encodable: ${String(value).slice(0, 32)}`);
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
