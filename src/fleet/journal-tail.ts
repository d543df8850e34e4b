import { closeSync, fstatSync, openSync, readSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { readJournalRecord } from "../storage/journal-record.js";
import { segmentName } from "../storage/journal-scan.js";
import { WireReader, varintWireType } from "../wire/wire-reader.js";
import { EventEnvelopeSchema } from "../../gen/corrbus/v1/envelope_pb.js";

/** One journaled event as the tail reads it: its id and the envelope's bytes as the journal holds them. */
export interface TailEvent {
  kind: "event";
  id: number;
  envelope: Uint8Array;
}

/**
 * One workflow fact as the tail reads it (WorkflowFact bytes): facts have no
 * id, so a fact's place is the event before it in the journal (`afterId`) and
 * its ordinal among the facts after that event.
 */
export interface TailFact {
  kind: "fact";
  afterId: number;
  ordinal: number;
  fact: Uint8Array;
}

export type TailRecord = TailEvent | TailFact;

/** A place in the journal: after event `afterId` and the first `factsAfter` facts that follow it. */
export interface TailPosition {
  afterId: number;
  factsAfter: number;
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
 * write in progress until the rest arrives, skips corrupt records, and moves
 * to the next segment once one exists. Workflow facts are skipped, or read in
 * their place when `withFacts` (a fact is read once it is in the file: a write
 * that fails after it and is rolled back is rare enough not to hold facts for).
 */
export class JournalTail {
  private segment: string | undefined;
  private fd: number | undefined;
  private fileOffset = 0;
  private pending: Buffer = Buffer.alloc(0);
  /** Corrupt records skipped (the journal's replay reports them too). */
  corrupt = 0;
  private afterId: number;
  private factsAfter: number;
  /** The last event the scan passed (read or skipped) and the facts it passed after it. */
  private seenId = 0;
  private seenFacts = 0;

  constructor(
    readonly directory: string,
    position: TailPosition,
    private readonly withFacts = false,
  ) {
    this.afterId = position.afterId;
    this.factsAfter = position.factsAfter;
  }

  /** Reads from `position` again (after a failed publish). */
  seek(position: TailPosition): void {
    this.close();
    this.afterId = position.afterId;
    this.factsAfter = position.factsAfter;
  }

  /** The segment being read (its name), if any. */
  get currentSegment(): string | undefined {
    return this.segment;
  }

  /** Up to `max` events (and facts, `withFacts`) after the position, events with ids up to `throughId`. */
  read(max: number, throughId: number): TailRecord[] {
    const out: TailRecord[] = [];
    // The facts after an event may follow it in its segment or start the next one: open the segment holding the event itself.
    if (this.segment === undefined && !this.openSegmentFor(this.withFacts ? this.afterId : this.afterId + 1)) return out;
    while (out.length < max) {
      const record = this.nextRecord(throughId);
      if (record === "wait") break;
      if (record === "segment-end") {
        if (!this.openNextSegment()) break;
        continue;
      }
      if (record.kind === "fact") {
        if (record.afterId < this.afterId || (record.afterId === this.afterId && record.ordinal < this.factsAfter)) continue;
        this.afterId = record.afterId;
        this.factsAfter = record.ordinal + 1;
        out.push(record);
        continue;
      }
      if (record.id <= this.afterId) continue;
      this.afterId = record.id;
      this.factsAfter = 0;
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
      if (record.kind === "event" && record.id > this.afterId) {
        this.afterId = record.id;
        this.factsAfter = 0;
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
    this.open(next, true);
    return true;
  }

  /** Opens segment `name`; `next` when it follows the segment just read, whose facts may go on at its start. */
  private open(name: string, next = false): void {
    this.close();
    this.segment = name;
    // A fact at the start of a segment follows the event before the segment's first, and counts on from the facts after it.
    const before = Number(name.slice(0, 20)) - 1;
    if (!next || this.seenId !== before) {
      this.seenId = before;
      this.seenFacts = 0;
    }
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
          this.seenId = id;
          this.seenFacts = 0;
          return { kind: "event", id, envelope: read.envelope };
        }
        if (read.kind === "fact") {
          this.pending = this.pending.subarray(read.next);
          const ordinal = this.seenFacts++;
          if (this.withFacts) return { kind: "fact", afterId: this.seenId, ordinal, fact: read.fact };
          continue;
        }
        if (read.kind === "corrupt") {
          this.corrupt++;
          this.pending = this.pending.subarray(read.next);
          continue;
        }
      }
      // Nothing whole in what was read. Everything stored is read already: wait, without asking the file system
      // (facts, written after the last stored event too, are looked for each time).
      if (this.afterId >= throughId && !this.withFacts) return "wait";
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
