import { closeSync, mkdirSync, openSync, truncateSync, unlinkSync, writevSync } from "node:fs";
import { type FileHandle, open, unlink } from "node:fs/promises";
import { join } from "node:path";
import { toBinary } from "@bufbuild/protobuf";
import { type WorkflowFact, WorkflowFactSchema } from "../../gen/corrbus/v1/journal_pb.js";
import { CapacityError } from "../core/validation/broker-errors.js";
import type { EventJournal } from "../core/broker-ports.js";
import { EventIdReservation } from "./event-id-reservation.js";
import { encodeFactRecord, encodeJournalRecord } from "./journal-record.js";
import { type JournalProblem, type JournalVisitor, scanJournalInterruptibly } from "./journal-scan.js";
import { syncDirectory } from "./sync-directory.js";

/** The largest event id (2^53-1): a reservation never passes it. */
const maxEventId = Number.MAX_SAFE_INTEGER;

/**
 * When an accepted event counts as stored:
 * - `always`: after an fsync that covers it (one fsync for every record
 *   written meanwhile: group commit); a power cut loses nothing acknowledged.
 * - `batch`: once written to the OS; fsync at most every `syncIntervalMs`. A
 *   killed broker loses nothing acknowledged; a power cut at most that window.
 * - `never`: once written to the OS; syncing is left to the OS.
 */
export type FsyncPolicy = "always" | "batch" | "never";

/** How to run the journal. */
export interface JournalOptions {
  /** The journal's directory (created 0700): `<data dir>/journal`. */
  directory: string;
  /** Default "batch". */
  fsync?: FsyncPolicy;
  /** A new segment file starts past this size. Default 64 MiB: small enough to delete promptly, large enough to be few. */
  segmentBytes?: number;
  /** `batch`: longest time between a write and its fsync. Default 5 ms. */
  syncIntervalMs?: number;
  /** Bytes waiting to be written before appends are refused (RESOURCE_EXHAUSTED). Default 64 MiB. */
  maxBacklogBytes?: number;
  /** After a failed write (a full disk, say), appends are refused this long (ms) before the next one tries again. Default 1000. */
  retryAfterMs?: number;
  /** Told when writing fails (once per outage) and when a write works again, with how long it failed (the server logs both). */
  onWriteFailure?: (error: Error) => void;
  onRecovered?: (failedForMs: number) => void;
  /** The write system call; tests inject one that fails as a full disk does. Default fs.writevSync. */
  writev?: (fd: number, buffers: Uint8Array[]) => number;
  /** Clock in ms, for the retry interval. Default Date.now. */
  now?: () => number;
  /**
   * Told after each write that counts as stored (under the fsync policy),
   * with the newest event id written: a reader of the segments (the fleet
   * forwarder) reads only that far, never a write that could still be
   * rolled back.
   */
  onStored?: (throughId: number) => void;
  /**
   * Event ids reserved at a time in the `event-ids` file, synced before any
   * of them is written. Default 65 536: one small synced write per 65 536
   * events, made while half the block is still left so a publish rarely waits
   * for it; a restart skips at most that many ids.
   */
  idBlock?: number;
}

export type { JournalProblem } from "./journal-scan.js";

/** What start-up found in the journal. */
export interface ReplayReport {
  segments: number;
  records: number;
  /** Workflow fact records read. */
  facts: number;
  firstId: number;
  /** The newest event id the journal holds, or names a segment after. */
  lastId: number;
  /**
   * New event ids continue after this one: at least `lastId`, and at least
   * every id the `event-ids` file reserved, so ids handed out before a crash
   * are not given again even when the records that held them were cut off
   * (a torn tail) or their segment was deleted, nor are ids of refused writes.
   */
  continueAfterId: number;
  problems: JournalProblem[];
  durationMs: number;
}

/** Counters for GetStats. */
export interface JournalStats {
  fsyncPolicy: FsyncPolicy;
  directory: string;
  segments: number;
  bytes: number;
  recordsAppended: number;
  writes: number;
  fsyncs: number;
  segmentsDeleted: number;
  recordsReplayed: number;
  problems: number;
  /** Records refused because the write backlog was full. */
  backlogRefused: number;
  /** Writes that failed and were rolled back. */
  writeFailures: number;
  /** Times writing worked again after failing. */
  recoveries: number;
}

interface Segment {
  firstId: number;
  path: string;
  bytes: number;
}

interface PendingAppend {
  /** A fact's id is 0: it never names a segment. */
  records: { id: number; bytes: Uint8Array }[];
  bytes: number;
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * Journal is the durable history: size-delimited JournalRecord messages (the
 * schema is the on-disk format) in segment files named after their first
 * event id. Appends go out in at most two writes per event-loop turn (the
 * first as soon as the appending code yields, the rest at the turn's end);
 * the fsync policy decides when they count as stored.
 */
export class Journal implements EventJournal {
  readonly policy: FsyncPolicy;
  private readonly segmentBytes: number;
  private readonly syncIntervalMs: number;
  private readonly maxBacklogBytes: number;
  private segments: Segment[] = [];
  private releaseAsked = 0;
  private heldThrough: (() => number) | undefined;
  private handle: FileHandle | undefined;
  private queue: PendingAppend[] = [];
  private queuedBytes = 0;
  private flushScheduled = false;
  /** A write happened in this event-loop turn: the next flush waits for the turn's end. */
  private wroteThisTurn = false;
  private writing = false;
  private failure: Error | undefined;
  /** A failed write was rolled back: writing may work again once space returns. A failed fsync never counts as recoverable. */
  private recoverable = false;
  private failedAtMs = 0;
  /** When the current outage began; undefined while writes work. */
  private failingSinceMs: number | undefined;
  private readonly retryAfterMs: number;
  private readonly writev: (fd: number, buffers: Uint8Array[]) => number;
  private readonly now: () => number;
  private dirty = false;
  private syncTimer: NodeJS.Timeout | undefined;
  private syncing: Promise<void> | undefined;
  private idle: (() => void)[] = [];
  private lastId = 0;
  private readonly idBlock: number;
  private ids: EventIdReservation | undefined;
  /** The reservation being raised, if any (one at a time). */
  private reserving: Promise<void> | undefined;
  /**
   * Set at open when new ids may jump past the newest stored one (the rest of
   * the last life's reservation): if the first event's id does, it starts a
   * segment named after it, so ids within a segment stay in step with its
   * name and a damaged record's successor can still be found by its id
   * (journal-scan).
   */
  private jumped = false;
  private counters = {
    recordsAppended: 0,
    writes: 0,
    fsyncs: 0,
    segmentsDeleted: 0,
    recordsReplayed: 0,
    problems: 0,
    backlogRefused: 0,
    writeFailures: 0,
    recoveries: 0,
  };

  constructor(private readonly options: JournalOptions) {
    this.policy = options.fsync ?? "batch";
    this.segmentBytes = options.segmentBytes ?? 64 * 1024 * 1024;
    this.syncIntervalMs = options.syncIntervalMs ?? 5;
    this.maxBacklogBytes = options.maxBacklogBytes ?? 64 * 1024 * 1024;
    this.retryAfterMs = options.retryAfterMs ?? 1000;
    this.writev = options.writev ?? writevSync;
    this.now = options.now ?? Date.now;
    this.idBlock = options.idBlock ?? 65_536;
  }

  /**
   * Reads every segment in order, handing each good event to `restore`; skips
   * corrupt records and cuts a torn tail off the last segment, reporting both.
   * Then opens the last segment for appending. Between segments the event
   * loop runs, `onSegment` hears how far it got, and an aborted `signal` ends
   * the replay with its reason (a SIGTERM during a long start-up).
   */
  async open(restore: JournalVisitor, signal?: AbortSignal, onSegment?: (done: number, of: number) => void): Promise<ReplayReport> {
    mkdirSync(this.options.directory, { recursive: true, mode: 0o700 });
    const scan = await scanJournalInterruptibly(this.options.directory, restore, signal, onSegment);
    this.segments = scan.segments.map(({ firstId, path, bytes }) => ({ firstId, path, bytes }));
    // An empty newest segment still says where ids had got to (a crash right after a roll).
    const newest = this.segments[this.segments.length - 1];
    this.lastId = Math.max(scan.lastId, newest === undefined ? 0 : newest.firstId - 1);
    this.ids = await EventIdReservation.open(this.options.directory);
    if (this.segments.length === 0) {
      // Named after the first id it will hold: above every id reserved, even with every segment gone.
      this.lastId = this.continueAfterId();
      this.segments.push(this.newSegment(this.lastId + 1));
    }
    this.jumped = this.continueAfterId() > this.lastId;
    this.handle = await open(this.segments[this.segments.length - 1].path, "a", 0o600);
    this.counters.recordsReplayed = scan.records;
    this.counters.problems = scan.problems.length;
    return {
      segments: scan.segments.length,
      records: scan.records,
      facts: scan.facts,
      firstId: scan.firstId,
      lastId: this.lastId,
      continueAfterId: this.continueAfterId(),
      problems: scan.problems,
      durationMs: scan.durationMs,
    };
  }

  append(events: readonly { id: number; encoded: Uint8Array }[]): Promise<void> {
    return this.enqueue(events.map((event) => ({ id: event.id, bytes: encodeJournalRecord(event.encoded) })));
  }

  /**
   * Appends a workflow fact after the events appended so far. Nobody waits for
   * it: a failed write fails the journal, and later appends report it.
   */
  recordFact(fact: WorkflowFact): void {
    this.enqueue([{ id: 0, bytes: encodeFactRecord(toBinary(WorkflowFactSchema, fact)) }]).catch(() => {});
  }

  /** Queues encoded records for the next write; resolves once they count as stored. */
  private enqueue(records: { id: number; bytes: Uint8Array }[]): Promise<void> {
    if (this.failure !== undefined) {
      if (!this.recoverable || this.now() - this.failedAtMs < this.retryAfterMs) return Promise.reject(this.failure);
      // Time to try again: this write says whether space has returned.
      this.failure = undefined;
    }
    if (this.handle === undefined) return Promise.reject(new Error("journal is not open"));
    const bytes = records.reduce((sum, record) => sum + record.bytes.length, 0);
    if (this.queuedBytes + bytes > this.maxBacklogBytes) {
      this.counters.backlogRefused += records.length;
      return Promise.reject(
        new CapacityError(`journal backlog of ${this.queuedBytes} bytes would pass its limit of ${this.maxBacklogBytes}: the disk is not keeping up`),
      );
    }
    this.queuedBytes += bytes;
    return new Promise((resolve, reject) => {
      this.queue.push({ records, bytes, resolve, reject });
      if (!this.flushScheduled && !this.writing) {
        this.flushScheduled = true;
        // The first write of an event-loop turn goes out once the appending
        // code yields (a sequential publisher's ack waits on it; waiting for
        // the turn's end cost it ~25 us); what is appended after that in the
        // same turn waits for its end, so many publishers at once share a write.
        if (this.wroteThisTurn) setImmediate(() => void this.flush());
        else queueMicrotask(() => void this.flush());
      }
    });
  }

  /**
   * Keeps segments holding events after `heldThrough()` when history lets
   * them go (the fleet forwarder: a segment stays until its events are
   * forwarded). release() asked since is done again by releaseHeld().
   */
  holdSegments(heldThrough: () => number): void {
    this.heldThrough = heldThrough;
  }

  /** Deletes what release() asked for and a hold kept, as far as the hold now lets it. */
  releaseHeld(): void {
    this.release(this.releaseAsked);
  }

  /** The segment files now, oldest first (the forwarder's retention bound reads their sizes). */
  segmentFiles(): readonly { firstId: number; path: string; bytes: number }[] {
    return this.segments;
  }

  release(requested: number): void {
    this.releaseAsked = Math.max(this.releaseAsked, requested);
    const throughId = Math.min(this.releaseAsked, this.heldThrough?.() ?? Number.POSITIVE_INFINITY);
    // Whole segments only, never the one being written.
    while (this.segments.length > 1 && this.segments[1].firstId - 1 <= throughId) {
      const [gone] = this.segments.splice(0, 1);
      this.counters.segmentsDeleted++;
      unlink(gone.path).catch(() => {});
    }
  }

  stats(): JournalStats {
    return {
      fsyncPolicy: this.policy,
      directory: this.options.directory,
      segments: this.segments.length,
      bytes: this.segments.reduce((sum, segment) => sum + segment.bytes, 0),
      ...this.counters,
    };
  }

  /** Writes and syncs everything appended so far, then closes the segment. */
  async close(): Promise<void> {
    await this.drained();
    clearTimeout(this.syncTimer);
    await this.syncing;
    await this.reserving?.catch(() => {});
    if (this.handle !== undefined && this.policy !== "never" && this.failure === undefined) await this.sync();
    await this.handle?.close();
    this.handle = undefined;
    await this.ids?.close();
    this.ids = undefined;
  }

  private newSegment(firstId: number): Segment {
    const path = join(this.options.directory, `${String(firstId).padStart(20, "0")}.seg`);
    closeSync(openSync(path, "a", 0o600));
    if (this.policy !== "never") syncDirectory(this.options.directory);
    return { firstId, path, bytes: 0 };
  }

  private async flush(): Promise<void> {
    this.flushScheduled = false;
    if (this.writing) return;
    if (this.queue.length === 0) {
      for (const resolve of this.idle.splice(0)) resolve();
      return;
    }
    this.writing = true;
    if (!this.wroteThisTurn) {
      this.wroteThisTurn = true;
      setImmediate(() => {
        this.wroteThisTurn = false;
      });
    }
    const batch = this.queue;
    this.queue = [];
    for (const entry of batch) this.queuedBytes -= entry.bytes;
    const start = { segments: this.segments.length, bytes: this.segments[this.segments.length - 1].bytes, lastId: this.lastId, jumped: this.jumped };
    try {
      // Awaited only when the ids are not reserved yet: each await is a turn of the microtask queue before the acks.
      const reserving = this.reserveIds(highestId(batch));
      if (reserving !== undefined) await reserving;
      let buffers: Uint8Array[] = [];
      let bytes = 0;
      for (const entry of batch) {
        for (const record of entry.records) {
          const current = this.segments[this.segments.length - 1];
          const full = current.bytes + bytes > 0 && current.bytes + bytes + record.bytes.length > this.segmentBytes;
          const jumps = this.jumped && record.id > this.lastId + 1;
          if (record.id !== 0) this.jumped = false;
          if (full || jumps) {
            this.write(buffers, bytes);
            buffers = [];
            bytes = 0;
            // A fact starting a segment names it after the next event id, never an earlier one.
            await this.roll(record.id === 0 ? this.lastId + 1 : record.id);
          }
          if (record.id > this.lastId) this.lastId = record.id;
          buffers.push(record.bytes);
          bytes += record.bytes.length;
        }
      }
      this.write(buffers, bytes);
      if (this.policy === "always") await this.sync();
      if (this.policy === "batch") this.scheduleSync();
      if (this.failingSinceMs !== undefined) {
        this.options.onRecovered?.(this.now() - this.failingSinceMs);
        this.failingSinceMs = undefined;
        this.counters.recoveries++;
      }
      for (const entry of batch) entry.resolve();
      this.options.onStored?.(this.lastId);
    } catch (error) {
      const failure = error instanceof Error ? error : new Error(String(error));
      this.failure = failure;
      this.failedAtMs = this.now();
      this.counters.writeFailures++;
      this.recoverable = await this.rollBack(start);
      if (this.failingSinceMs === undefined) {
        this.failingSinceMs = this.failedAtMs;
        this.options.onWriteFailure?.(failure);
      }
      for (const entry of [...batch, ...this.queue.splice(0)]) entry.reject(failure);
    } finally {
      this.writing = false;
      if (this.queue.length > 0) void this.flush();
      else for (const resolve of this.idle.splice(0)) resolve();
    }
  }

  /**
   * Undoes a batch whose write failed: segments it started are removed and the
   * one it began in is cut back to where it began, so no torn or unacknowledged
   * record stays behind. Answers whether that worked (only then may writing resume).
   */
  private async rollBack(start: { segments: number; bytes: number; lastId: number; jumped: boolean }): Promise<boolean> {
    try {
      await this.handle?.close();
      this.handle = undefined;
      while (this.segments.length > start.segments) unlinkSync((this.segments.pop() as Segment).path);
      const current = this.segments[this.segments.length - 1];
      truncateSync(current.path, start.bytes);
      current.bytes = start.bytes;
      this.lastId = start.lastId;
      this.jumped = start.jumped;
      this.handle = await open(current.path, "a", 0o600);
      return true;
    } catch {
      return false;
    }
  }

  /** New ids continue after the newest id stored or named, and after every id reserved. */
  private continueAfterId(): number {
    return Math.max(this.lastId, (this.ids as EventIdReservation).through);
  }

  /**
   * Makes sure the event-ids file covers `throughId` (durably) before a record
   * with that id is written: whatever becomes of the records, no id up to it
   * is given again after a restart. The next block is reserved while half of
   * this one is left, so a batch rarely waits for it. Answers a promise to
   * wait for when `throughId` is past what is reserved, else undefined.
   */
  private reserveIds(throughId: number): Promise<void> | undefined {
    if (throughId === 0) return undefined;
    const ids = this.ids as EventIdReservation;
    if (this.reserving === undefined && throughId > ids.through - this.idBlock / 2) {
      this.reserving = ids.raise(Math.min(throughId + this.idBlock, maxEventId)).finally(() => {
        this.reserving = undefined;
      });
      // Ahead of need nobody may wait for it; a batch that needs it hears its failure below.
      this.reserving.catch(() => {});
    }
    return throughId > ids.through ? this.waitForIds(throughId) : undefined;
  }

  private async waitForIds(throughId: number): Promise<void> {
    const ids = this.ids as EventIdReservation;
    while (throughId > ids.through) await (this.reserving ?? ids.raise(Math.min(throughId + this.idBlock, maxEventId)));
  }

  private write(buffers: Uint8Array[], bytes: number): void {
    if (bytes === 0) return;
    let pending = buffers;
    let left = bytes;
    // A synchronous write: it only copies into the page cache (microseconds),
    // while an async one waits a thread-pool round trip and an extra
    // event-loop turn before the ack: ~60 µs of sequential Publish latency
    // (bench, in-memory broker vs journal). fsyncs stay asynchronous.
    const fd = (this.handle as FileHandle).fd;
    while (left > 0) {
      const bytesWritten = this.writev(fd, pending);
      this.counters.writes++;
      left -= bytesWritten;
      if (left > 0) pending = skipBytes(pending, bytesWritten);
    }
    this.segments[this.segments.length - 1].bytes += bytes;
    this.counters.recordsAppended += buffers.length;
    this.dirty = true;
  }

  private async roll(firstId: number): Promise<void> {
    if (this.policy !== "never") await this.sync();
    await this.handle?.close();
    this.segments.push(this.newSegment(firstId));
    this.handle = await open(this.segments[this.segments.length - 1].path, "a", 0o600);
  }

  private async sync(): Promise<void> {
    if (!this.dirty || this.handle === undefined) return;
    this.dirty = false;
    await this.handle.datasync();
    this.counters.fsyncs++;
  }

  private scheduleSync(): void {
    if (this.syncTimer !== undefined) return;
    this.syncTimer = setTimeout(() => {
      this.syncTimer = undefined;
      this.syncing = this.sync()
        .catch((error) => {
          // What a failed fsync leaves in the page cache is unknown: no retry.
          this.failure = error instanceof Error ? error : new Error(String(error));
          this.recoverable = false;
          this.failingSinceMs ??= this.now();
          this.options.onWriteFailure?.(this.failure);
        })
        .finally(() => {
          this.syncing = undefined;
        });
    }, this.syncIntervalMs);
  }

  private drained(): Promise<void> {
    if (!this.writing && this.queue.length === 0 && !this.flushScheduled) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }
}

/** The highest event id in a batch (0 when it holds only facts). */
function highestId(batch: PendingAppend[]): number {
  let highest = 0;
  for (const entry of batch) for (const record of entry.records) if (record.id > highest) highest = record.id;
  return highest;
}

function skipBytes(buffers: Uint8Array[], count: number): Uint8Array[] {
  let rest = count;
  const out: Uint8Array[] = [];
  for (const buffer of buffers) {
    if (rest >= buffer.length) {
      rest -= buffer.length;
      continue;
    }
    out.push(rest > 0 ? buffer.subarray(rest) : buffer);
    rest = 0;
  }
  return out;
}
