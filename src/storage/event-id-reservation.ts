import { existsSync, readFileSync } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { join } from "node:path";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { IdReservationSchema } from "../../gen/corrbus/v1/journal_pb.js";
import { encodeIdReservationRecord, readIdReservationRecord } from "./journal-record.js";
import { syncDirectory } from "./sync-directory.js";

/** The file in the journal directory that holds the reservation. */
export const eventIdsFileName = "event-ids";

/** Where the second copy starts: its own 4 KiB block, so one torn block write cannot damage both. */
const slotBytes = 4096;

/**
 * EventIdReservation is the durable high-water mark of event ids (the
 * `event-ids` file, IdReservation in proto/corrbus/v1/journal.proto): every id
 * up to `through` may have been handed out. The journal raises it, synced,
 * before it writes events past it, so a restart continues above every id ever
 * acknowledged, delivered or refused, even when the segments that held them
 * were cut short (a power cut under `--fsync batch`) or deleted.
 *
 * Two copies, written in turn in place (no new file, no rename: a full disk
 * still takes them): a write torn by a power cut leaves the other copy, which
 * still covers every id used, since no id past it is used before the new
 * copy is synced.
 */
export class EventIdReservation {
  private constructor(
    private readonly handle: FileHandle,
    /** The highest id reserved, durably. */
    private reserved: number,
    /** The copy the next reservation overwrites: the older one. */
    private nextSlot: number,
  ) {}

  /** Reads the reservation in `directory` (0 when there is none or neither copy is intact) and opens the file to raise it. */
  static async open(directory: string): Promise<EventIdReservation> {
    const path = join(directory, eventIdsFileName);
    const existed = existsSync(path);
    const slots = existed ? readSlots(readFileSync(path)) : [0, 0];
    const handle = await open(path, existed ? "r+" : "w+", 0o600);
    if (!existed) syncDirectory(directory);
    return new EventIdReservation(handle, Math.max(...slots), slots[0] <= slots[1] ? 0 : 1);
  }

  /** Reads the reservation in `directory` without changing anything (0 when there is none). */
  static read(directory: string): number {
    const path = join(directory, eventIdsFileName);
    return existsSync(path) ? Math.max(...readSlots(readFileSync(path))) : 0;
  }

  /** Every event id up to this one may have been handed out. */
  get through(): number {
    return this.reserved;
  }

  /** Raises the reservation to `through` and syncs it; resolves once it is durable. Lower values change nothing. */
  async raise(through: number): Promise<void> {
    if (through <= this.reserved) return;
    const record = encodeIdReservationRecord(toBinary(IdReservationSchema, create(IdReservationSchema, { throughEventId: BigInt(through) })));
    await this.handle.write(record, 0, record.length, this.nextSlot * slotBytes);
    await this.handle.datasync();
    this.nextSlot = 1 - this.nextSlot;
    this.reserved = Math.max(this.reserved, through);
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}

/** Both copies' marks; 0 for a copy that is missing, torn or corrupt. */
function readSlots(data: Uint8Array): [number, number] {
  return [readSlot(data, 0), readSlot(data, slotBytes)];
}

function readSlot(data: Uint8Array, offset: number): number {
  if (offset >= data.length) return 0;
  const content = readIdReservationRecord(data, offset);
  if (content === undefined) return 0;
  try {
    // Past the largest id there is nothing left to give: publishes are refused, never given a used id.
    const through = fromBinary(IdReservationSchema, content).throughEventId;
    return Number(through < BigInt(Number.MAX_SAFE_INTEGER) ? through : BigInt(Number.MAX_SAFE_INTEGER));
  } catch {
    return 0;
  }
}
