import { closeSync, fstatSync, openSync, readSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { readJournalRecord } from "../storage/journal-record.js";
import { segmentName } from "../storage/journal-scan.js";
import { WireReader, varintWireType } from "../wire/wire-reader.js";
import { EventEnvelopeSchema } from "../../gen/corrbus/v1/envelope_pb.js";

/** One journaled event as the tail reads it: its id and the envelope's bytes as the journal holds them. */
export interface TailRecord {
  id: number;
  envelope: Uint8Array;
}

/** Most bytes read from a segment file at once. */
const readChunkBytes = 4 * 1024 * 1024;

const eventIdField = EventEnvelopeSchema.field.eventId.number;
const reader = new WireReader();

/**
 * JournalTail reads a journal's events in order from a position, as they are
 * written: the segment files themselves, so one code path serves catching up
 * after a restart and following live writes. It reads only records the
 * journal has counted as stored (`throughId`), holds a record cut short by a
 * write in progress until the rest arrives, skips corrupt records and workflow
 * facts, and moves to the next segment once one exists.
 */
export class JournalTail {
  private segment: string | undefined;
  private fd: number | undefined;
  private fileOffset = 0;
  private pending: Buffer = Buffer.alloc(0);
  /** Corrupt records skipped (the journal's replay reports them too). */
  corrupt = 0;

  constructor(
    readonly directory: string,
    private afterId: number,
  ) {}

  /** Reads from the event after `afterId` again (after a failed publish). */
  seek(afterId: number): void {
    this.close();
    this.afterId = afterId;
  }

  /** The segment being read (its name), if any. */
  get currentSegment(): string | undefined {
    return this.segment;
  }

  /** Up to `max` events after the position with ids up to `throughId`. */
  read(max: number, throughId: number): TailRecord[] {
    const out: TailRecord[] = [];
    if (this.segment === undefined && !this.openSegmentFor(this.afterId + 1)) return out;
    while (out.length < max) {
      const record = this.nextRecord(throughId);
      if (record === "wait") break;
      if (record === "segment-end") {
        if (!this.openNextSegment()) break;
        continue;
      }
      if (record.id <= this.afterId) continue;
      this.afterId = record.id;
      out.push(record);
    }
    return out;
  }

  /**
   * Gives up the rest of the current segment (the forwarder's retention
   * bound): answers how many events after the position it held, and moves
   * to the next segment.
   */
  skipSegment(): number {
    let skipped = 0;
    for (;;) {
      const record = this.nextRecord(Number.MAX_SAFE_INTEGER);
      if (record === "wait" || record === "segment-end") break;
      if (record.id > this.afterId) {
        this.afterId = record.id;
        skipped++;
      }
    }
    this.openNextSegment();
    return skipped;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    this.segment = undefined;
    this.fileOffset = 0;
    this.pending = Buffer.alloc(0);
  }

  private segments(): string[] {
    try {
      return readdirSync(this.directory)
        .filter((name) => segmentName.test(name))
        .sort();
    } catch {
      return [];
    }
  }

  /** Opens the segment that holds `id` (the last one named at or below it), or the first. */
  private openSegmentFor(id: number): boolean {
    const names = this.segments();
    if (names.length === 0) return false;
    let chosen = names[0];
    for (const name of names) if (Number(name.slice(0, 20)) <= id) chosen = name;
    this.open(chosen);
    return true;
  }

  private openNextSegment(): boolean {
    const next = this.segments().find((name) => this.segment === undefined || name > this.segment);
    if (next === undefined) return false;
    this.close();
    this.open(next);
    return true;
  }

  private open(name: string): void {
    this.close();
    this.segment = name;
    try {
      this.fd = openSync(join(this.directory, name), "r");
    } catch {
      // Deleted meanwhile: the next read moves on.
      this.fd = undefined;
    }
  }

  /** The next record of the segment, "wait" for one not yet written (or not yet stored), "segment-end" when a newer segment has begun. */
  private nextRecord(throughId: number): TailRecord | "wait" | "segment-end" {
    for (;;) {
      if (this.pending.length > 0) {
        const read = readJournalRecord(this.pending, 0);
        if (read.kind === "record") {
          const id = eventIdOf(read.envelope);
          if (id > throughId) return "wait";
          this.pending = this.pending.subarray(read.next);
          return { id, envelope: read.envelope };
        }
        if (read.kind === "fact" || read.kind === "corrupt") {
          if (read.kind === "corrupt") this.corrupt++;
          this.pending = this.pending.subarray(read.next);
          continue;
        }
      }
      // Nothing whole in what was read. Everything stored is read already: wait, without asking the file system.
      if (this.afterId >= throughId) return "wait";
      if (this.fd === undefined) return this.newerSegmentExists() ? "segment-end" : "wait";
      const size = fstatSync(this.fd).size;
      if (size <= this.fileOffset) return this.newerSegmentExists() ? "segment-end" : "wait";
      const chunk = Buffer.allocUnsafe(Math.min(readChunkBytes, size - this.fileOffset));
      const got = readSync(this.fd, chunk, 0, chunk.length, this.fileOffset);
      this.fileOffset += got;
      this.pending = this.pending.length === 0 ? chunk.subarray(0, got) : Buffer.concat([this.pending, chunk.subarray(0, got)]);
    }
  }

  private newerSegmentExists(): boolean {
    return this.segments().some((name) => this.segment === undefined || name > this.segment);
  }
}

/** event_id of an envelope the broker stamped (read from its bytes, without decoding the rest). */
function eventIdOf(envelope: Uint8Array): number {
  for (let at = 0; at < envelope.length; at = reader.next) {
    if (!reader.field(envelope, at, envelope.length)) return 0;
    if (reader.tag === ((eventIdField << 3) | varintWireType)) return reader.value;
  }
  return 0;
}
