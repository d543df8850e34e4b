import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, equals, toBinary } from "@bufbuild/protobuf";
import { sizeDelimitedDecodeStream, sizeDelimitedEncode } from "@bufbuild/protobuf/wire";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import { type EventEnvelope, EventEnvelopeSchema } from "../../gen/corrbus/v1/envelope_pb.js";
import { JournalRecordSchema } from "../../gen/corrbus/v1/journal_pb.js";
import { crc32c } from "../../src/storage/crc32c.js";
import { type FsyncPolicy, Journal, type JournalOptions, type ReplayReport } from "../../src/storage/journal.js";
import { encodeJournalRecord, readJournalRecord } from "../../src/storage/journal-record.js";

const directories: string[] = [];
const openJournals: Journal[] = [];

afterEach(async () => {
  vi.useRealTimers();
  for (const journal of openJournals.splice(0)) await journal.close().catch(() => {});
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

/** A fresh journal directory (not yet created: open() makes it). */
function journalDirectory(): string {
  const root = mkdtempSync(join(tmpdir(), "corrbus-journal-"));
  directories.push(root);
  return join(root, "journal");
}

/** A stamped event as the broker hands it to the journal; `payloadBytes` sizes it. */
function event(id: number, payloadBytes = 16): EventEnvelope {
  return create(EventEnvelopeSchema, {
    eventId: BigInt(id),
    topic: "events.journal.test",
    payload: new TextEncoder().encode(`p${id}-`.padEnd(payloadBytes, "x").slice(0, Math.max(payloadBytes, 1))),
    contentType: "text/plain",
    publisherProcessId: 4242,
    // A fixed receive time keeps every record of a payload size the same size.
    receivedAt: timestampFromMs(1_700_000_000_000),
  });
}

function events(from: number, to: number, payloadBytes = 16): EventEnvelope[] {
  return Array.from({ length: to - from + 1 }, (_, index) => event(from + index, payloadBytes));
}

/** The bytes the journal writes for `envelope`. */
/** Journal.append takes whole encodings with their ids (the broker encodes once for journal and history). */
function appendEvents(journal: Journal, list: EventEnvelope[]): Promise<void> {
  return journal.append(list.map((envelope) => ({ id: Number(envelope.eventId), encoded: toBinary(EventEnvelopeSchema, envelope) })));
}

function recordBytes(envelope: EventEnvelope): Uint8Array {
  return encodeJournalRecord(toBinary(EventEnvelopeSchema, envelope));
}

/** Opens a journal on `directory`, collecting what it replays. */
async function openJournal(
  directory: string,
  options: Omit<JournalOptions, "directory"> = {},
): Promise<{ journal: Journal; restored: EventEnvelope[]; report: ReplayReport }> {
  const journal = new Journal({ directory, ...options });
  const restored: EventEnvelope[] = [];
  const report = await journal.open({ event: (envelope) => restored.push(envelope) });
  openJournals.push(journal);
  return { journal, restored, report };
}

async function closeJournal(journal: Journal): Promise<void> {
  await journal.close();
  openJournals.splice(openJournals.indexOf(journal), 1);
}

/** Writes `list` (one append per event-loop turn), closes, answers the directory. */
async function journalWith(list: EventEnvelope[], options: Omit<JournalOptions, "directory"> = {}): Promise<string> {
  const directory = journalDirectory();
  const { journal } = await openJournal(directory, options);
  await appendEvents(journal, list);
  await closeJournal(journal);
  return directory;
}

function segmentNames(directory: string): string[] {
  return readdirSync(directory)
    .filter((name) => name.endsWith(".seg"))
    .sort();
}

function ids(list: EventEnvelope[]): number[] {
  return list.map((envelope) => Number(envelope.eventId));
}

function sameEnvelopes(actual: EventEnvelope[], expected: EventEnvelope[]): void {
  expect(ids(actual)).toEqual(ids(expected));
  actual.forEach((envelope, index) => expect(equals(EventEnvelopeSchema, envelope, expected[index])).toBe(true));
}

/** Byte offsets where each record of `list` starts in a segment holding exactly them, plus the end. */
function boundaries(list: EventEnvelope[]): number[] {
  const offsets = [0];
  for (const envelope of list) offsets.push(offsets[offsets.length - 1] + recordBytes(envelope).length);
  return offsets;
}

/**
 * Writes `list` to a fresh journal, lets `damage` change the bytes of its one
 * segment (given the record boundaries), and opens the journal again.
 */
async function reopenDamaged(list: EventEnvelope[], damage: (data: Buffer, ends: number[]) => void) {
  const directory = await journalWith(list);
  const name = "00000000000000000001.seg";
  const path = join(directory, name);
  const ends = boundaries(list);
  const data = readFileSync(path);
  damage(data, ends);
  writeFileSync(path, data);
  return { reopened: await openJournal(directory), name, path, ends };
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Waits, turn by turn, for what the journal does in the background (an
 * unlink, an fsync: real I/O); setImmediate, so it works under fake timers.
 */
async function until(what: string, condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await nextTurn();
  }
}

/** The journal's timers (the batch fsync) run only when the test moves the clock. */
function fakeTimers(): void {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
}

/** Bit-by-bit CRC-32C, the definition the table-driven one must match. */
function referenceCrc32c(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

describe("CRC-32C", () => {
  it("should give the known check value for 123456789", () => {
    expect(crc32c(new TextEncoder().encode("123456789"))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(0))).toBe(0);
    // RFC 3720 (iSCSI) B.4: 32 bytes of zeros.
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
  });

  it("should match the bitwise definition for any bytes (slicing-by-8 and the tail loop)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(7), (bytes, skip) => {
        // Unaligned views too: the table loop must not depend on the buffer's offset.
        const view = bytes.subarray(Math.min(skip, bytes.length));
        expect(crc32c(view)).toBe(referenceCrc32c(view));
      }),
      { numRuns: 300 },
    );
  });
});

describe("the journal file format", () => {
  it("should write exactly what protobuf-es sizeDelimitedEncode writes for a JournalRecord", () => {
    for (const envelope of [event(1, 1), event(2, 200), event(3, 20_000)]) {
      const bytes = toBinary(EventEnvelopeSchema, envelope);
      const expected = sizeDelimitedEncode(JournalRecordSchema, create(JournalRecordSchema, { envelope, crc32c: crc32c(bytes) }));
      expect(Buffer.from(encodeJournalRecord(bytes))).toEqual(Buffer.from(expected));
    }
  });

  it("should be readable as size-delimited JournalRecords by any protobuf library (sizeDelimitedDecodeStream)", async () => {
    const written = [...events(1, 3), event(4, 300), ...events(5, 9, 2)];
    const directory = await journalWith(written);
    const [name] = segmentNames(directory);
    expect(name).toBe("00000000000000000001.seg");
    const data = readFileSync(join(directory, name));
    // Fed in awkward chunks, as a stream reader would get them.
    async function* chunks() {
      for (let offset = 0; offset < data.length; offset += 7) yield data.subarray(offset, offset + 7);
    }
    const records = [];
    for await (const record of sizeDelimitedDecodeStream(JournalRecordSchema, chunks())) records.push(record);
    expect(records).toHaveLength(written.length);
    records.forEach((record, index) => {
      expect(record.envelope).toBeDefined();
      expect(equals(EventEnvelopeSchema, record.envelope as EventEnvelope, written[index])).toBe(true);
      expect(record.crc32c).toBe(crc32c(toBinary(EventEnvelopeSchema, written[index])));
    });
  });
});

describe("Journal", () => {
  it("should replay the same envelopes in order after append, close and reopen", async () => {
    const directory = journalDirectory();
    const first = await openJournal(directory);
    expect(first.report).toMatchObject({ segments: 0, records: 0, firstId: 0, lastId: 0, problems: [] });
    expect(statSync(directory).mode & 0o777).toBe(0o700);
    const written = [...events(1, 4), event(5, 5000), ...events(6, 10)];
    await appendEvents(first.journal, written.slice(0, 4));
    await appendEvents(first.journal, written.slice(4, 5));
    await Promise.all([appendEvents(first.journal, written.slice(5, 8)), appendEvents(first.journal, written.slice(8))]);
    await closeJournal(first.journal);

    const second = await openJournal(directory);
    sameEnvelopes(second.restored, written);
    expect(second.report).toMatchObject({ segments: 1, records: 10, firstId: 1, lastId: 10, problems: [] });
    expect(second.journal.stats()).toMatchObject({ recordsReplayed: 10, problems: 0, segments: 1 });
    // And appends continue the same segment.
    await appendEvents(second.journal, events(11, 12));
    await closeJournal(second.journal);
    const third = await openJournal(directory);
    expect(ids(third.restored)).toEqual(Array.from({ length: 12 }, (_, index) => index + 1));
    expect(segmentNames(directory)).toEqual(["00000000000000000001.seg"]);
    expect(statSync(join(directory, "00000000000000000001.seg")).size).toBe(boundaries([...written, ...events(11, 12)]).at(-1));
  });

  it("should write an append before its event-loop turn ends, and what follows that write in the same turn at the turn's end, in one more write", async () => {
    const { journal } = await openJournal(journalDirectory(), { fsync: "never" });
    const microtasks = async (count: number) => {
      for (let index = 0; index < count; index++) await Promise.resolve();
    };
    // The first append reserves event ids (a file write of its own); the rest of the test writes within that block.
    await appendEvents(journal, [event(1)]);
    await nextTurn();
    const first = appendEvents(journal, [event(2)]);
    // Only microtasks have run: no turn has ended, and the append is written (a sequential publisher's ack waits on it).
    await microtasks(3);
    expect(journal.stats()).toMatchObject({ recordsAppended: 2, writes: 2 });
    // Appended after that write, in the same turn: held until the turn ends, then written together.
    const later = [appendEvents(journal, [event(3)])];
    await microtasks(3);
    later.push(appendEvents(journal, [event(4)]));
    await microtasks(3);
    expect(journal.stats()).toMatchObject({ recordsAppended: 2, writes: 2 });
    await Promise.all([first, ...later]);
    expect(journal.stats()).toMatchObject({ recordsAppended: 4, writes: 3 });
    // A new turn's first append goes out at once again.
    await nextTurn();
    const next = appendEvents(journal, [event(5)]);
    await microtasks(3);
    expect(journal.stats()).toMatchObject({ recordsAppended: 5, writes: 4 });
    await next;
    await closeJournal(journal);
  });

  it("should write everything appended in one event-loop turn with one writev", async () => {
    const directory = journalDirectory();
    const { journal } = await openJournal(directory, { fsync: "never" });
    // 200 appends of one event in the same turn: one write.
    await Promise.all(Array.from({ length: 200 }, (_, index) => appendEvents(journal, [event(index + 1)])));
    expect(journal.stats()).toMatchObject({ recordsAppended: 200, writes: 1 });

    // Ten turns with one append each: ten writes.
    for (let id = 201; id <= 210; id++) await appendEvents(journal, [event(id)]);
    expect(journal.stats()).toMatchObject({ recordsAppended: 210, writes: 11 });

    // Appends arriving while a write is under way go out together in the next one.
    const pending: Promise<void>[] = [];
    for (let turn = 0; turn < 20; turn++) {
      for (let k = 0; k < 5; k++) pending.push(appendEvents(journal, [event(211 + turn * 5 + k)]));
      await nextTurn();
    }
    await Promise.all(pending);
    const stats = journal.stats();
    expect(stats.recordsAppended).toBe(310);
    expect(stats.writes - 11).toBeLessThanOrEqual(20);
    await closeJournal(journal);
    const reopened = await openJournal(directory);
    expect(ids(reopened.restored)).toEqual(Array.from({ length: 310 }, (_, index) => index + 1));
  });

  it("should start a new segment, named after its first event id, past segmentBytes", async () => {
    const directory = journalDirectory();
    const size = recordBytes(event(1)).length;
    // Room for three records per segment.
    const segmentBytes = size * 3 + 1;
    const { journal } = await openJournal(directory, { segmentBytes, fsync: "always" });
    // One turn (a roll inside one flush) and then single appends (rolls between flushes).
    await appendEvents(journal, events(1, 7));
    for (let id = 8; id <= 10; id++) await appendEvents(journal, [event(id)]);
    expect(segmentNames(directory)).toEqual(["00000000000000000001.seg", "00000000000000000004.seg", "00000000000000000007.seg", "00000000000000000010.seg"]);
    for (const name of segmentNames(directory)) expect(statSync(join(directory, name)).size).toBeLessThanOrEqual(segmentBytes);
    expect(journal.stats()).toMatchObject({ segments: 4, bytes: size * 10 });
    // A record larger than a segment still goes in (alone).
    await appendEvents(journal, [event(11, segmentBytes * 2)]);
    await appendEvents(journal, [event(12)]);
    expect(segmentNames(directory).slice(4)).toEqual(["00000000000000000011.seg", "00000000000000000012.seg"]);
    await closeJournal(journal);

    const reopened = await openJournal(directory, { segmentBytes });
    expect(ids(reopened.restored)).toEqual(Array.from({ length: 12 }, (_, index) => index + 1));
    expect(reopened.report).toMatchObject({ segments: 6, records: 12, problems: [] });
  });

  it("should release only whole segments that are not the current one", async () => {
    const directory = journalDirectory();
    const segmentBytes = recordBytes(event(1)).length * 3 + 1;
    const { journal } = await openJournal(directory, { segmentBytes });
    for (let id = 1; id <= 10; id++) await appendEvents(journal, [event(id)]);
    // Segments: 1-3, 4-6, 7-9, 10 (current).
    const settle = () => until("segment files to go", () => segmentNames(directory).length === journal.stats().segments);

    journal.release(2); // 1-3 still holds event 3.
    // A segment released is counted and its unlink issued at once: none was.
    expect(journal.stats()).toMatchObject({ segments: 4, segmentsDeleted: 0 });
    expect(segmentNames(directory)).toHaveLength(4);

    journal.release(3);
    await settle();
    expect(segmentNames(directory)).toEqual(["00000000000000000004.seg", "00000000000000000007.seg", "00000000000000000010.seg"]);

    journal.release(8); // 7-9 still holds event 9.
    await settle();
    expect(segmentNames(directory)).toEqual(["00000000000000000007.seg", "00000000000000000010.seg"]);

    // Everything released: the segment being written stays.
    journal.release(1_000);
    await settle();
    expect(segmentNames(directory)).toEqual(["00000000000000000010.seg"]);
    expect(journal.stats()).toMatchObject({ segments: 1, segmentsDeleted: 3 });
    await appendEvents(journal, [event(11)]);
    await closeJournal(journal);

    const reopened = await openJournal(directory, { segmentBytes });
    expect(ids(reopened.restored)).toEqual([10, 11]);
    expect(reopened.report.problems).toEqual([]);
  });

  describe("fsync policy", () => {
    async function flushes(journal: Journal, count: number, firstId = 1): Promise<void> {
      for (let index = 0; index < count; index++) await appendEvents(journal, [event(firstId + index)]);
    }

    it("always: one fsync per flush, done before the append resolves (group commit within a turn)", async () => {
      const { journal } = await openJournal(journalDirectory(), { fsync: "always" });
      await flushes(journal, 5);
      expect(journal.stats()).toMatchObject({ writes: 5, fsyncs: 5 });
      // Many appends in one turn: one write, one fsync covering them all.
      await Promise.all(Array.from({ length: 50 }, (_, index) => appendEvents(journal, [event(6 + index)])));
      expect(journal.stats()).toMatchObject({ writes: 6, fsyncs: 6 });
      // Each append resolves only after its fsync.
      const fsyncsBefore = journal.stats().fsyncs;
      const appended = appendEvents(journal, [event(56)]).then(() => journal.stats().fsyncs);
      expect(await appended).toBe(fsyncsBefore + 1);
      await closeJournal(journal);
      // Nothing left unsynced at close: no extra fsync.
      expect(journal.stats().fsyncs).toBe(7);
    });

    it("batch: acknowledged once written, fsync one interval after the first unsynced write, not before", async () => {
      fakeTimers();
      const syncIntervalMs = 40;
      const { journal } = await openJournal(journalDirectory(), { fsync: "batch", syncIntervalMs });
      await appendEvents(journal, [event(1)]);
      // Acknowledged before any fsync.
      expect(journal.stats()).toMatchObject({ writes: 1, fsyncs: 0 });
      // Its fsync is due one interval later: not yet started a millisecond before.
      vi.advanceTimersByTime(syncIntervalMs - 1);
      expect(vi.getTimerCount()).toBe(1);
      await nextTurn();
      expect(journal.stats().fsyncs).toBe(0);
      vi.advanceTimersByTime(1);
      expect(vi.getTimerCount()).toBe(0);
      await until("the batch fsync", () => journal.stats().fsyncs === 1);
      // Idle: nothing dirty, nothing scheduled.
      expect(vi.getTimerCount()).toBe(0);
      await closeJournal(journal);
      expect(journal.stats().fsyncs).toBe(1);
    });

    it("batch: a burst of flushes shares fsyncs, at most one per interval", async () => {
      fakeTimers();
      const syncIntervalMs = 40;
      const { journal } = await openJournal(journalDirectory(), { fsync: "batch", syncIntervalMs });
      // 30 flushes 5 ms apart, 145 ms in all. The interval runs from the first write after an fsync
      // began: fsyncs start at 40, 80 and 120, and the writes from 120 on wait for the one at 160.
      for (let index = 0; index < 30; index++) {
        if (index > 0) vi.advanceTimersByTime(5);
        await appendEvents(journal, [event(index + 1)]);
      }
      await until("three fsyncs", () => journal.stats().fsyncs === 3);
      expect(journal.stats()).toMatchObject({ writes: 30, fsyncs: 3 });
      expect(vi.getTimerCount()).toBe(1);
      vi.advanceTimersByTime(syncIntervalMs);
      await until("the fourth fsync", () => journal.stats().fsyncs === 4);
      expect(vi.getTimerCount()).toBe(0);
      await closeJournal(journal);
      expect(journal.stats().fsyncs).toBe(4);
    });

    it("batch: close syncs what the timer has not yet", async () => {
      const { journal } = await openJournal(journalDirectory(), { fsync: "batch", syncIntervalMs: 60_000 });
      await flushes(journal, 3);
      expect(journal.stats().fsyncs).toBe(0);
      await closeJournal(journal);
      expect(journal.stats().fsyncs).toBe(1);
    });

    it("never: no fsync at all, not even at close", async () => {
      fakeTimers();
      const directory = journalDirectory();
      const { journal } = await openJournal(directory, { fsync: "never", segmentBytes: recordBytes(event(1)).length * 2 + 1 });
      await flushes(journal, 10);
      await Promise.all(events(11, 20).map((envelope) => appendEvents(journal, [envelope])));
      // No fsync is even scheduled.
      expect(vi.getTimerCount()).toBe(0);
      await closeJournal(journal);
      expect(journal.stats()).toMatchObject({ recordsAppended: 20, fsyncs: 0 });
      expect(segmentNames(directory)).toHaveLength(10);
      expect(ids((await openJournal(directory)).restored)).toHaveLength(20);
    });

    it.each<FsyncPolicy>(["always", "batch", "never"])("%s: appends after close are refused", async (fsync) => {
      const { journal } = await openJournal(journalDirectory(), { fsync });
      await appendEvents(journal, [event(1)]);
      await closeJournal(journal);
      await expect(appendEvents(journal, [event(2)])).rejects.toThrow("journal is not open");
    });
  });

  describe("damaged files", () => {
    it("should cut a torn tail off the last segment, report it, and keep appending after it", async () => {
      const written = events(1, 5, 40);
      const directory = await journalWith(written);
      const name = "00000000000000000001.seg";
      const path = join(directory, name);
      const ends = boundaries(written);
      // A crash in the middle of writing record 5.
      const cut = ends[4] + 9;
      truncateSync(path, cut);

      const reopened = await openJournal(directory);
      sameEnvelopes(reopened.restored, written.slice(0, 4));
      expect(reopened.report.problems).toEqual([
        { segment: name, offset: ends[4], bytes: 9, reason: expect.stringContaining("the data ends"), action: "truncated" },
      ]);
      expect(reopened.report).toMatchObject({ records: 4, lastId: 4 });
      expect(reopened.journal.stats().problems).toBe(1);
      // Cut back to the last good record.
      expect(statSync(path).size).toBe(ends[4]);

      const more = events(5, 7, 40);
      await appendEvents(reopened.journal, more);
      await closeJournal(reopened.journal);
      const again = await openJournal(directory);
      sameEnvelopes(again.restored, [...written.slice(0, 4), ...more]);
      expect(again.report.problems).toEqual([]);
    });

    it("should cut a tail that ends inside a record's length", async () => {
      // 200-byte payloads: two-byte length varints.
      const written = events(1, 3, 200);
      const directory = await journalWith(written);
      const path = join(directory, "00000000000000000001.seg");
      const ends = boundaries(written);
      expect(readFileSync(path)[ends[2]] & 0x80).toBe(0x80);
      truncateSync(path, ends[2] + 1);
      const reopened = await openJournal(directory);
      expect(ids(reopened.restored)).toEqual([1, 2]);
      expect(reopened.report.problems).toEqual([
        { segment: "00000000000000000001.seg", offset: ends[2], bytes: 1, reason: "the data ends inside a record's length", action: "truncated" },
      ]);
      expect(statSync(path).size).toBe(ends[2]);
    });

    it("should skip a record with a flipped byte, reporting a checksum mismatch, and replay the ones around it", async () => {
      const written = events(1, 3, 60);
      const { reopened, name, path, ends } = await reopenDamaged(written, (data, ends) => {
        // A byte of the middle record's payload (inside the envelope, past the headers).
        const target = ends[1] + 30;
        data[target] ^= 0x10;
      });
      sameEnvelopes(reopened.restored, [written[0], written[2]]);
      expect(reopened.report.problems).toEqual([{ segment: name, offset: ends[1], bytes: ends[2] - ends[1], reason: "checksum mismatch", action: "skipped" }]);
      // Skipped, not cut: the file keeps its records.
      expect(statSync(path).size).toBe(ends[3]);
    });

    it("should skip a record whose checksum itself is damaged", async () => {
      const written = events(1, 3);
      const { reopened, ends } = await reopenDamaged(written, (data, ends) => {
        // The last byte of record 2: its stored CRC-32C.
        data[ends[2] - 1] ^= 0x01;
      });
      expect(ids(reopened.restored)).toEqual([1, 3]);
      expect(reopened.report.problems).toMatchObject([{ offset: ends[1], reason: "checksum mismatch", action: "skipped" }]);
    });

    it("should skip a record whose length is implausible and find the next good record after it", async () => {
      const written = events(1, 4);
      const { reopened, path, ends } = await reopenDamaged(written, (data, ends) => {
        // Record 3's length becomes 2^32 - 1 (a five-byte varint over its first bytes).
        data.set([0xff, 0xff, 0xff, 0xff, 0x0f], ends[2]);
      });
      expect(ids(reopened.restored)).toEqual([1, 2, 4]);
      expect(reopened.report.problems).toEqual([
        {
          segment: "00000000000000000001.seg",
          offset: ends[2],
          bytes: ends[3] - ends[2],
          reason: "a record length of 4294967295 bytes is not plausible",
          action: "skipped",
        },
      ]);
      // Nothing is cut: the damage is skipped at every start.
      expect(statSync(path).size).toBe(ends[4]);
    });

    it("should cut an implausible length off the end of the last segment when nothing good follows", async () => {
      const written = events(1, 3);
      const { reopened, path, ends } = await reopenDamaged(written, (data, ends) => {
        data.set([0xff, 0xff, 0xff, 0xff, 0x0f], ends[2]);
      });
      expect(ids(reopened.restored)).toEqual([1, 2]);
      expect(reopened.report.problems).toMatchObject([{ offset: ends[2], bytes: ends[3] - ends[2], action: "truncated" }]);
      expect(statSync(path).size).toBe(ends[2]);
    });

    it("should not fail to open on a length that is not even a varint (ten or more continuation bytes)", async () => {
      const written = events(1, 4);
      const { reopened, ends } = await reopenDamaged(written, (data, ends) => {
        data.fill(0xff, ends[2], ends[3]);
      });
      expect(ids(reopened.restored)).toEqual([1, 2, 4]);
      expect(reopened.report.problems).toMatchObject([{ segment: "00000000000000000001.seg", offset: ends[2], bytes: ends[3] - ends[2], action: "skipped" }]);
    });

    it("should skip a garbage length in an earlier segment, keep the file, and replay what follows", async () => {
      const directory = journalDirectory();
      const segmentBytes = recordBytes(event(1)).length * 3 + 1;
      const { journal } = await openJournal(directory, { segmentBytes });
      const written = events(1, 7);
      await appendEvents(journal, written);
      await closeJournal(journal);
      const first = join(directory, "00000000000000000001.seg");
      const ends = boundaries(written.slice(0, 3));
      const data = readFileSync(first);
      data.set([0xff, 0xff, 0xff, 0xff, 0x0f], ends[1]);
      writeFileSync(first, data);

      const reopened = await openJournal(directory, { segmentBytes });
      expect(ids(reopened.restored)).toEqual([1, 3, 4, 5, 6, 7]);
      expect(reopened.report.problems).toMatchObject([{ segment: "00000000000000000001.seg", offset: ends[1], bytes: ends[2] - ends[1], action: "skipped" }]);
      // Only the last segment is ever cut.
      expect(statSync(first).size).toBe(ends[3]);
    });

    it("should skip a record whose event id does not follow the previous one", async () => {
      const written = [event(1), event(2), event(2), event(3)];
      const directory = await journalWith(written);
      const reopened = await openJournal(directory);
      expect(ids(reopened.restored)).toEqual([1, 2, 3]);
      expect(reopened.report.problems).toMatchObject([{ reason: "event_id 2 is not after 2", action: "skipped" }]);
    });

    it("should replay exactly the complete records before a cut at any byte offset, and never throw", async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 6 }),
          fc.double({ min: 0, max: 1, noNaN: true }),
          async (sizes, where) => {
            const written = sizes.map((size, index) => event(index + 1, size));
            const ends = boundaries(written);
            const total = ends[ends.length - 1];
            const cut = Math.min(total, Math.floor(where * (total + 1)));
            const directory = journalDirectory();
            const { journal } = await openJournal(directory);
            await appendEvents(journal, written);
            await closeJournal(journal);
            const path = join(directory, "00000000000000000001.seg");
            truncateSync(path, cut);

            const complete = ends.filter((end) => end <= cut).length - 1;
            const reopened = await openJournal(directory);
            sameEnvelopes(reopened.restored, written.slice(0, complete));
            const lastGood = ends[complete];
            if (cut === lastGood) {
              expect(reopened.report.problems).toEqual([]);
            } else {
              expect(reopened.report.problems).toEqual([
                { segment: "00000000000000000001.seg", offset: lastGood, bytes: cut - lastGood, reason: expect.any(String), action: "truncated" },
              ]);
            }
            expect(statSync(path).size).toBe(lastGood);
            await closeJournal(reopened.journal);
            rmSync(directory, { recursive: true, force: true });
          },
        ),
        { numRuns: 150 },
      );
    });

    it("should never throw on a flipped byte anywhere, and replay every record before it, in order", async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 5 }),
          fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
          fc.integer({ min: 1, max: 255 }),
          async (sizes, where, mask) => {
            const written = sizes.map((size, index) => event(index + 1, size));
            const ends = boundaries(written);
            const total = ends[ends.length - 1];
            const at = Math.floor(where * total);
            const directory = journalDirectory();
            const { journal } = await openJournal(directory);
            await appendEvents(journal, written);
            await closeJournal(journal);
            const path = join(directory, "00000000000000000001.seg");
            const data = readFileSync(path);
            data[at] ^= mask;
            writeFileSync(path, data);

            const damaged = ends.filter((end) => end <= at).length - 1;
            const reopened = await openJournal(directory);
            const replayed = ids(reopened.restored);
            // Every record before the damaged one, then a subsequence of the ones after it.
            expect(replayed.slice(0, damaged)).toEqual(ids(written.slice(0, damaged)));
            expect(replayed).not.toContain(damaged + 1);
            for (let index = 1; index < replayed.length; index++) expect(replayed[index]).toBeGreaterThan(replayed[index - 1]);
            for (const envelope of reopened.restored) {
              expect(equals(EventEnvelopeSchema, envelope, written[Number(envelope.eventId) - 1])).toBe(true);
            }
            expect(reopened.report.problems.length).toBeGreaterThanOrEqual(1);
            await closeJournal(reopened.journal);
            rmSync(directory, { recursive: true, force: true });
          },
        ),
        { numRuns: 150 },
      );
    });
  });

  it("readJournalRecord should tell a torn record from a corrupt one", () => {
    const bytes = recordBytes(event(1, 100));
    expect(readJournalRecord(bytes, 0)).toMatchObject({ kind: "record", next: bytes.length });
    expect(readJournalRecord(bytes.subarray(0, bytes.length - 1), 0).kind).toBe("torn");
    const flipped = bytes.slice();
    flipped[50] ^= 0xff;
    expect(readJournalRecord(flipped, 0)).toMatchObject({ kind: "corrupt", reason: "checksum mismatch", next: bytes.length });
    expect(readJournalRecord(new Uint8Array(12).fill(0x80), 0).kind).toBe("unreadable");
  });
});
