import { type DescMessage, type MessageShape, toJson } from "@bufbuild/protobuf";

/**
 * One message as a JSON line with proto field names (`event_id`, as `corrbus
 * journal dump` and the schema spell them). Fields at their zero value are
 * written too, so scripts see the same keys every time (`delivered_count: 0`
 * rather than no key). 64-bit integers are strings and bytes base64, as the
 * protobuf JSON mapping says.
 */
export function jsonLine<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>, extra: Record<string, unknown> = {}): string {
  const json = toJson(schema, message, { useProtoFieldName: true, alwaysEmitImplicit: true }) as Record<string, unknown>;
  return `${JSON.stringify({ ...json, ...extra })}\n`;
}

/** Writes one JSON line to stdout; see jsonLine. */
export function writeJson<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>, extra?: Record<string, unknown>): void {
  process.stdout.write(jsonLine(schema, message, extra));
}

/** A text table: a header row, then rows, columns padded to their widest cell (the last one is not padded). */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((header, column) => Math.max(header.length, ...rows.map((row) => (row[column] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column])))
      .join("  ")
      .trimEnd();
  return [line(headers), ...rows.map(line)].map((text) => `${text}\n`).join("");
}

/** Aligned "name  value" lines, indented by `indent`. */
export function keyValues(pairs: [string, string][], indent = ""): string {
  const width = Math.max(0, ...pairs.map(([key]) => key.length));
  return pairs.map(([key, value]) => `${indent}${key.padEnd(width)}  ${value}\n`).join("");
}
