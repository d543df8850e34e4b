import { sizeDelimitedPeek } from "@bufbuild/protobuf/wire";
import { JournalRecordSchema } from "../../gen/corrbus/v1/journal_pb.js";
import { varintSize, writeVarint } from "../wire/varint.js";
import { WireReader, lengthDelimitedWireType, tagOf } from "../wire/wire-reader.js";
import { crc32c } from "./crc32c.js";

/** JournalRecord.envelope, .workflow_fact and .id_reservation (length-delimited) and .crc32c (fixed32), from the descriptor. */
const envelopeTag = tagOf(JournalRecordSchema.field.envelope.number, lengthDelimitedWireType);
const factTag = tagOf(JournalRecordSchema.field.workflowFact.number, lengthDelimitedWireType);
const reservationTag = tagOf(JournalRecordSchema.field.idReservation.number, lengthDelimitedWireType);
const crcTag = tagOf(JournalRecordSchema.field.crc32c.number, 5);
const reader = new WireReader();

/** A record larger than this is a corrupt length, not a record (the broker's own limits stay far below). */
export const maxRecordBytes = 64 * 1024 * 1024;

/**
 * Encodes one size-delimited JournalRecord for an encoded envelope: what
 * protobuf-es's sizeDelimitedEncode would write for
 * `{ envelope, crc32c: crc32c(envelope bytes) }`, built by hand so the
 * envelope is encoded once and the checksum covers exactly those bytes.
 */
export function encodeJournalRecord(envelope: Uint8Array): Uint8Array {
  return encodeRecord(envelopeTag, envelope);
}

/** Encodes one size-delimited JournalRecord for an encoded WorkflowFact, checksummed like an envelope. */
export function encodeFactRecord(fact: Uint8Array): Uint8Array {
  return encodeRecord(factTag, fact);
}

/** Encodes one size-delimited JournalRecord for an encoded IdReservation (the event-ids file's form), checksummed like an envelope. */
export function encodeIdReservationRecord(reservation: Uint8Array): Uint8Array {
  return encodeRecord(reservationTag, reservation);
}

function encodeRecord(tag: number, content: Uint8Array): Uint8Array {
  const recordSize = 1 + varintSize(content.length) + content.length + 5;
  // Pooled and not zero-filled: every byte is written below.
  const out = Buffer.allocUnsafe(varintSize(recordSize) + recordSize);
  let offset = writeVarint(out, 0, recordSize);
  out[offset++] = tag;
  offset = writeVarint(out, offset, content.length);
  out.set(content, offset);
  offset += content.length;
  out[offset++] = crcTag;
  out.writeUInt32LE(crc32c(content), offset);
  return out;
}

/** What reading one record at an offset found. */
export type RecordRead =
  | { kind: "record"; envelope: Uint8Array; next: number }
  | { kind: "fact"; fact: Uint8Array; next: number }
  | { kind: "corrupt"; reason: string; next: number }
  | { kind: "torn"; reason: string }
  | { kind: "unreadable"; reason: string };

/**
 * Reads the record at `offset`: a good record (its envelope bytes, or a workflow fact's, checksum
 * verified), a corrupt one with a plausible length (skippable), a torn one
 * (the data ends inside it), or an unreadable length (nothing after it can be
 * found again).
 */
export function readJournalRecord(data: Uint8Array, offset: number): RecordRead {
  const read = readChecksummed(data, offset);
  if (read.kind !== "content") return read;
  if (read.tag === envelopeTag) return { kind: "record", envelope: read.content, next: read.next };
  if (read.tag === factTag) return { kind: "fact", fact: read.content, next: read.next };
  return { kind: "corrupt", reason: "the record does not start with its envelope or workflow fact", next: read.next };
}

/** Reads an id reservation record at `offset` (the event-ids file's form): its IdReservation bytes, checksum verified, or undefined. */
export function readIdReservationRecord(data: Uint8Array, offset: number): Uint8Array | undefined {
  const read = readChecksummed(data, offset);
  return read.kind === "content" && read.tag === reservationTag ? read.content : undefined;
}

/** A record's one content field and its tag, once its length, layout and checksum check out. */
function readChecksummed(
  data: Uint8Array,
  offset: number,
): { kind: "content"; tag: number; content: Uint8Array; next: number } | Exclude<RecordRead, { kind: "record" | "fact" }> {
  let peek: ReturnType<typeof sizeDelimitedPeek>;
  try {
    peek = sizeDelimitedPeek(data.subarray(offset));
  } catch {
    // Ten bytes with the continuation bit set: sizeDelimitedPeek throws "invalid varint".
    return { kind: "unreadable", reason: "a record length that is not a varint" };
  }
  if (peek.size === null) return { kind: "torn", reason: "the data ends inside a record's length" };
  if (peek.size > maxRecordBytes || peek.size < 7) {
    return { kind: "unreadable", reason: `a record length of ${peek.size} bytes is not plausible` };
  }
  const start = offset + peek.offset;
  const next = start + peek.size;
  if (next > data.length) return { kind: "torn", reason: `the data ends ${next - data.length} bytes before the record's end` };
  const record = data.subarray(start, next);
  const tag = record[0];
  if (tag !== envelopeTag && tag !== factTag && tag !== reservationTag) {
    return { kind: "corrupt", reason: "the record does not start with its envelope or workflow fact", next };
  }
  const contentStart = reader.varint(record, 1);
  const contentEnd = contentStart + reader.value;
  if (contentStart < 0 || contentEnd + 5 !== record.length || record[contentEnd] !== crcTag) {
    return { kind: "corrupt", reason: "the record's fields do not add up to its length", next };
  }
  const content = record.subarray(contentStart, contentEnd);
  const stored = new DataView(record.buffer, record.byteOffset + contentEnd + 1, 4).getUint32(0, true);
  if (stored !== crc32c(content)) return { kind: "corrupt", reason: "checksum mismatch", next };
  return { kind: "content", tag, content, next };
}
