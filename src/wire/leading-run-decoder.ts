import type { DescField, DescMessage } from "@bufbuild/protobuf";
import { type MessageDecoder, messageDecoder } from "./message-decoder.js";

/**
 * Decodes a message while its bytes still arrive, chunk by chunk: the
 * elements of a repeated message field that the message starts with (the
 * events of a query answer, which the broker writes first and sends as it
 * writes them) are decoded as each one is complete, so the decoding overlaps
 * the broker's writing and the transfer instead of following them. The rest
 * of the message (anything from the first other field on) is decoded at the
 * end, and the elements decoded early come first in its list: protobuf
 * appends a repeated field's elements in the order they appear, so the result
 * is the message decoded whole. An element the compiled decoder leaves to
 * fromBinary makes the whole message decoded at the end, as one.
 */
export class LeadingRunDecoder<Shape> {
  /** Every chunk so far: the whole message, for the rare input decoded as one. */
  private readonly chunks: Buffer[] = [];
  private length = 0;
  /** Bytes after the last element decoded: an element's beginning, or the rest of the message. */
  private pending: Buffer[] = [];
  private pendingLength = 0;
  /** Bytes the next element needs, its tag and length included (0: not known yet). */
  private needed = 0;
  /** The run's field, once its first tag was read; null when the message starts otherwise. */
  private field: DescField | null | undefined;
  private elementDecoder: MessageDecoder<DescMessage, unknown> | undefined;
  private readonly elements: unknown[] = [];
  /** Past the run: everything else is decoded at the end. */
  private runEnded = false;
  /** An element the compiled decoder left to fromBinary, or an error to give at the end. */
  private whole = false;
  private failure: unknown;

  constructor(private readonly decoder: MessageDecoder<DescMessage, Shape>) {}

  /** Takes the next chunk of the message. Never throws: a failure is given by finish(). */
  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.length += chunk.length;
    if (this.whole) return;
    this.pending.push(chunk);
    this.pendingLength += chunk.length;
    if (this.runEnded || this.pendingLength < this.needed) return;
    const bytes = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending, this.pendingLength);
    let at = 0;
    try {
      at = this.decodeElements(bytes);
    } catch (error) {
      this.failure = error;
      this.whole = true;
    }
    this.pending = at === bytes.length ? [] : [bytes.subarray(at)];
    this.pendingLength = bytes.length - at;
  }

  /** The message the chunks make; throws what decoding it whole would. */
  finish(): Shape {
    if (this.failure !== undefined) throw this.failure;
    if (this.whole || this.field === undefined || this.field === null) return this.decoder.decode(this.joined(this.chunks, this.length));
    const rest = this.decoder.decode(this.joined(this.pending, this.pendingLength)) as Record<string, unknown[]>;
    const name = this.field.localName;
    rest[name] = rest[name].length === 0 ? this.elements : this.elements.concat(rest[name]);
    return rest as Shape;
  }

  /** Decodes the complete elements at the start of `bytes`; answers where the undecoded bytes begin. */
  private decodeElements(bytes: Buffer): number {
    let at = 0;
    this.needed = 0;
    while (at < bytes.length) {
      const tag = readVarint(bytes, at);
      if (tag === incomplete) return at;
      if (tag === tooLong) {
        this.runEnded = true;
        return at;
      }
      if (this.field === undefined) this.field = this.runField(tag.value);
      if (this.field === null || tag.value !== this.field.number * 8 + 2) {
        this.runEnded = true;
        return at;
      }
      const size = readVarint(bytes, tag.next);
      if (size === incomplete) return at;
      if (size === tooLong) {
        this.whole = true;
        return at;
      }
      const end = size.next + size.value;
      if (end > bytes.length) {
        this.needed = end - at;
        return at;
      }
      const element = (this.elementDecoder as MessageDecoder<DescMessage, unknown>).decodeUsualAt(bytes, size.next, end);
      if (element === undefined) {
        this.whole = true;
        return at;
      }
      this.elements.push(element);
      at = end;
    }
    return at;
  }

  /** The repeated message field whose tag `tag` is, or null when it is none (the message is decoded at the end). */
  private runField(tag: number): DescField | null {
    const field = this.decoder.schema.fields.find((candidate) => candidate.number * 8 + 2 === tag);
    if (field === undefined || field.fieldKind !== "list" || field.listKind !== "message" || field.delimitedEncoding) return null;
    this.elementDecoder = messageDecoder(field.message, this.decoder.longs as "number") as MessageDecoder<DescMessage, unknown>;
    return field;
  }

  private joined(chunks: readonly Buffer[], length: number): Buffer {
    return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, length);
  }
}

const incomplete = "incomplete";
const tooLong = "too long";

/** A varint of up to 4 bytes (tags and lengths below 2^28) at `at`; "incomplete" when the bytes end first, "too long" past 4 bytes (left to the whole decode). */
function readVarint(bytes: Buffer, at: number): { value: number; next: number } | typeof incomplete | typeof tooLong {
  let value = 0;
  for (let index = 0; index < 4; index++) {
    if (at + index >= bytes.length) return incomplete;
    const byte = bytes[at + index];
    value |= (byte & 0x7f) << (7 * index);
    if (byte < 0x80) return { value, next: at + index + 1 };
  }
  return tooLong;
}
