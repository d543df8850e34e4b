import { closeSync, existsSync, fsyncSync, ftruncateSync, openSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fromBinary } from "@bufbuild/protobuf";
import { type EventEnvelope, EventEnvelopeSchema } from "../../gen/corrbus/v1/envelope_pb.js";
import { type WorkflowFact, WorkflowFactSchema } from "../../gen/corrbus/v1/journal_pb.js";
import { rememberReceived } from "../wire/encoded-events.js";
import { readJournalRecord } from "./journal-record.js";

/** A problem found while reading the journal. */
export interface JournalProblem {
  segment: string;
  offset: number;
  bytes: number;
  reason: string;
  /** A bad record skipped, or a torn tail cut off the last segment (read-only scans only report it: the broker cuts it at start-up). */
  action: "skipped" | "truncated";
}

/** One segment file as found. */
export interface SegmentInfo {
  name: string;
  path: string;
  firstId: number;
  /** Bytes that hold good records (after a repair, the file's size). */
  bytes: number;
  records: number;
}

/** What reading the journal found. */
export interface ScanReport {
  segments: SegmentInfo[];
  records: number;
  /** Workflow fact records (they carry no event id). */
  facts: number;
  firstId: number;
  lastId: number;
  problems: JournalProblem[];
  durationMs: number;
}

/** What a scan hands over: each good event, and each workflow fact where it lies between them. */
export interface JournalVisitor {
  event(envelope: EventEnvelope, segment: string): void;
  fact?(fact: WorkflowFact, segment: string): void;
}

/** Segment files are named after their first event id, 20 digits. */
export const segmentName = /^\d{20}\.seg$/;

/**
 * Reads every segment of a journal directory in order, handing each good
 * event to `visit`; corrupt records are skipped and reported. With
 * `repairTail`, a torn tail of the last segment (the data ends inside a
 * record, as a crash mid-write leaves it) is cut off so appends can follow;
 * without it nothing is written (verify, dump).
 */
export function scanJournal(directory: string, repairTail: boolean, visit: JournalVisitor): ScanReport {
  const scan = new JournalScan(directory, repairTail, visit);
  while (scan.nextSegment());
  return scan.finish();
}

/**
 * scanJournal one segment at a time, for a start-up that must stay
 * interruptible: between segments the event loop runs (a SIGTERM is heard)
 * and `onSegment` is told how far it got; an aborted `signal` ends the scan
 * with its reason.
 */
export async function scanJournalInterruptibly(
  directory: string,
  visit: JournalVisitor,
  signal: AbortSignal | undefined,
  onSegment: (done: number, of: number) => void = () => {},
): Promise<ScanReport> {
  const scan = new JournalScan(directory, true, visit);
  while (scan.nextSegment()) {
    onSegment(scan.done, scan.total);
    await new Promise((resolve) => setImmediate(resolve));
    signal?.throwIfAborted();
  }
  return scan.finish();
}

class JournalScan {
  private readonly started = performance.now();
  private readonly names: string[];
  private readonly report: ScanReport = { segments: [], records: 0, facts: 0, firstId: 0, lastId: 0, problems: [], durationMs: 0 };

  constructor(
    private readonly directory: string,
    private readonly repairTail: boolean,
    private readonly visit: JournalVisitor,
  ) {
    this.names = existsSync(directory)
      ? readdirSync(directory)
          .filter((name) => segmentName.test(name))
          .sort()
      : [];
  }

  get done(): number {
    return this.report.segments.length;
  }

  get total(): number {
    return this.names.length;
  }

  /** Reads the next segment; false when none was left. */
  nextSegment(): boolean {
    const index = this.report.segments.length;
    const name = this.names[index];
    if (name === undefined) return false;
    const info: SegmentInfo = { name, path: join(this.directory, name), firstId: Number(name.slice(0, 20)), bytes: 0, records: 0 };
    info.bytes = scanSegment(info, index === this.names.length - 1, this.repairTail, this.report, this.visit);
    this.report.segments.push(info);
    return true;
  }

  finish(): ScanReport {
    this.report.durationMs = performance.now() - this.started;
    return this.report;
  }
}

function scanSegment(info: SegmentInfo, isLast: boolean, repairTail: boolean, report: ScanReport, visit: JournalVisitor): number {
  const data = readFileSync(info.path);
  let offset = 0;
  while (offset < data.length) {
    const read = readJournalRecord(data, offset);
    if (read.kind === "record") {
      // The record's bytes are what history keeps: fields this broker does not know survive a restart too.
      const envelope = rememberReceived(fromBinary(EventEnvelopeSchema, read.envelope), read.envelope);
      const id = Number(envelope.eventId);
      if (id > report.lastId) {
        visit.event(envelope, info.name);
        report.records++;
        info.records++;
        if (report.firstId === 0) report.firstId = id;
        report.lastId = id;
      } else {
        report.problems.push({
          segment: info.name,
          offset,
          bytes: read.next - offset,
          reason: `event_id ${id} is not after ${report.lastId}`,
          action: "skipped",
        });
      }
      offset = read.next;
      continue;
    }
    if (read.kind === "fact") {
      visit.fact?.(fromBinary(WorkflowFactSchema, read.fact), info.name);
      report.facts++;
      offset = read.next;
      continue;
    }
    // Damage. A record whose length was intact ends where it said: resume there
    // when a good record follows. Otherwise look for the next offset where a
    // whole record with a good checksum and a plausible id starts.
    const resume =
      read.kind === "corrupt" && (read.next === data.length || readJournalRecord(data, read.next).kind === "record")
        ? read.next
        : nextGoodRecord(data, offset + 1, Math.max(report.lastId, info.firstId - 1));
    if (resume < 0) {
      // Nothing good follows: a torn tail (what a crash mid-write leaves), cut off the last segment at start-up.
      report.problems.push({ segment: info.name, offset, bytes: data.length - offset, reason: read.reason, action: isLast ? "truncated" : "skipped" });
      if (isLast && repairTail) truncate(info.path, offset);
      return offset;
    }
    report.problems.push({ segment: info.name, offset, bytes: resume - offset, reason: read.reason, action: "skipped" });
    offset = resume;
  }
  return data.length;
}

/**
 * The first offset at or after `from` where a complete, checksum-verified
 * record starts whose event id could follow `lastId` over the skipped bytes
 * (each lost record takes at least 8): a record found inside another's
 * payload rarely passes both. -1 if none. Ids are not dense across a restart
 * (the journal reserves them in blocks), but a restart starts a segment named
 * after its first id, which the caller passes as `lastId` there.
 */
function nextGoodRecord(data: Uint8Array, from: number, lastId: number): number {
  for (let offset = from; offset < data.length; offset++) {
    const read = readJournalRecord(data, offset);
    if (read.kind !== "record") continue;
    const id = Number(fromBinary(EventEnvelopeSchema, read.envelope).eventId);
    const mostLost = Math.ceil((offset - from + 1) / 8) + 1;
    if (id > lastId && (lastId === 0 || id <= lastId + mostLost)) return offset;
  }
  return -1;
}

function truncate(path: string, length: number): void {
  const fd = openSync(path, "r+");
  try {
    ftruncateSync(fd, length);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
