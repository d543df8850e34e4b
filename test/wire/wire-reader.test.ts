import { describe, expect, it } from "vitest";
import { WireReader } from "../../src/wire/wire-reader.js";

/** Walks `bytes` field by field: each field's [start, next), or undefined where the reader refuses. */
function walk(bytes: number[]): [number, number][] | undefined {
  const reader = new WireReader();
  const data = Uint8Array.from(bytes);
  const fields: [number, number][] = [];
  for (let at = 0; at < data.length; at = reader.next) {
    if (!reader.field(data, at, data.length)) return undefined;
    fields.push([at, reader.next]);
  }
  return fields;
}

const startGroup = (number: number) => (number << 3) | 3;
const endGroup = (number: number) => (number << 3) | 4;

describe("WireReader", () => {
  it("should read a group as one field from its start tag past its end tag, nested groups and every wire type inside included", () => {
    const group = [
      startGroup(14),
      0x08,
      0x96,
      0x01,
      0x12,
      0x02,
      0x61,
      0x62,
      startGroup(2),
      0x0d,
      1,
      2,
      3,
      4,
      endGroup(2),
      0x09,
      1,
      2,
      3,
      4,
      5,
      6,
      7,
      8,
      endGroup(14),
    ];
    expect(walk([0x0a, 0x01, 0x61, ...group, 0x10, 0x05])).toEqual([
      [0, 3],
      [3, 3 + group.length],
      [3 + group.length, 5 + group.length],
    ]);
  });

  it("should read the empty group protobuf-es kept from the handlers fuzz's bytes (seed 2009791146)", () => {
    // An envelope's unknown fields as protobuf-es held them: field 13 varint 0x6f, then group 14 with nothing in it.
    expect(walk([0x68, 0x6f, 0x73, 0x74])).toEqual([
      [0, 2],
      [2, 4],
    ]);
  });

  it("should refuse a group whose end tag is another field's, that does not end, or a lone end tag", () => {
    expect(walk([startGroup(14), 0x08, 0x01, endGroup(15)])).toBeUndefined();
    expect(walk([startGroup(14), 0x08, 0x01])).toBeUndefined();
    expect(walk([endGroup(14)])).toBeUndefined();
  });

  it("should refuse groups nested deeper than 100 levels, and read 100", () => {
    const nested = (depth: number) => [...Array(depth).fill(startGroup(1)), ...Array(depth).fill(endGroup(1))];
    expect(walk(nested(100))).toHaveLength(1);
    expect(walk(nested(101))).toBeUndefined();
  });
});
