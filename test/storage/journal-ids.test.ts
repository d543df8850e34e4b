import { mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, unlinkSync, writeFileSync, writevSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fromBinary } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { EventEnvelopeSchema } from "../../gen/corrbus/v1/envelope_pb.js";
import type { PeerIdentity } from "../../src/core/broker-ports.js";
import { CorrelationBroker } from "../../src/core/correlation-broker.js";
import { type FsyncPolicy, Journal } from "../../src/storage/journal.js";
import { readJournalRecord } from "../../src/storage/journal-record.js";
import { envelope } from "../core/core-fixtures.js";

const peer: PeerIdentity = { verified: false };
const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

function journalDirectory(): string {
  const directory = mkdtempSync(join(tmpdir(), "corrbus-journal-ids-"));
  directories.push(directory);
  return directory;
}

/** A broker on the journal in `directory`, replayed as `serve` does. */
async function brokerOn(
  directory: string,
  options: { fsync?: FsyncPolicy; segmentBytes?: number; idBlock?: number; writev?: (fd: number, buffers: Uint8Array[]) => number } = {},
) {
  const journal = new Journal({ ...options, directory, fsync: options.fsync ?? "batch" });
  const broker = new CorrelationBroker({}, Date.now, journal);
  const report = await journal.open({ event: (event) => broker.restore(event), fact: (fact) => broker.restoreFact(fact) });
  broker.continueAfter(report.continueAfterId);
  broker.finishRestore();
  return { broker, journal, report };
}

/** Publishes `count` events one by one; answers their ids. */
async function publishMany(broker: CorrelationBroker, count: number, name: string): Promise<number[]> {
  const ids: number[] = [];
  for (let index = 0; index < count; index++) {
    const [result] = await broker.submit([envelope(`events.ids.${name}`)], peer, false);
    ids.push(result.eventId);
  }
  return ids;
}

function segmentsOf(directory: string): string[] {
  return readdirSync(directory)
    .filter((name) => name.endsWith(".seg"))
    .sort();
}

/** The offset of the `index`th record of a segment (0-based). */
function recordOffset(path: string, index: number): number {
  const data = readFileSync(path);
  let offset = 0;
  for (let record = 0; record < index; record++) {
    const read = readJournalRecord(data, offset);
    if (read.kind !== "record" && read.kind !== "fact") throw new Error(`no record ${record} in ${path}`);
    offset = read.next;
  }
  return offset;
}

/** Where the record of event `id` starts, in whichever segment holds it. */
function findRecord(directory: string, id: number): { path: string; offset: number } {
  for (const name of segmentsOf(directory)) {
    const path = join(directory, name);
    const data = readFileSync(path);
    for (let offset = 0; offset < data.length; ) {
      const read = readJournalRecord(data, offset);
      if (read.kind === "record" && Number(fromBinary(EventEnvelopeSchema, read.envelope).eventId) === id) return { path, offset };
      if (read.kind !== "record" && read.kind !== "fact") break;
      offset = read.next;
    }
  }
  throw new Error(`no record of event ${id} in ${directory}`);
}

/**
 * After a restart: the next id is above every id handed out before, the gap
 * is at most one reservation block, and a subscriber resuming after the last
 * id it saw gets every new event.
 */
async function expectIdsContinue(directory: string, handedOut: number[], idBlock: number): Promise<void> {
  const { broker, journal } = await brokerOn(directory, { idBlock });
  const lastSeen = Math.max(...handedOut);
  const resumed = broker.subscribe({ patterns: ["events.#"], queueGroup: "", name: "resumer", statedPid: 0, fromEventId: lastSeen + 1 }, peer);
  const fresh = await publishMany(broker, 3, "after");
  expect(fresh[0]).toBeGreaterThan(lastSeen);
  expect(fresh[0]).toBeLessThanOrEqual(lastSeen + idBlock + 1);
  const received = ((await resumed.next(100)) ?? []).map((event) => Number(event.eventId));
  expect(received).toEqual(fresh);
  await journal.close();
}

describe("Journal event ids across restarts", () => {
  it("should continue after an empty newest segment's name when every older segment is gone", async () => {
    // What a crash right after a segment roll leaves once older segments were released.
    const directory = journalDirectory();
    writeFileSync(join(directory, "00000000000000000042.seg"), new Uint8Array(0));
    const journal = new Journal({ directory, fsync: "never" });
    const report = await journal.open({ event: () => {} });
    await journal.close();
    expect([report.records, report.lastId, report.continueAfterId]).toEqual([0, 41, 41]);
  });

  it("should never give again an id whose record was lost in a torn tail (a power cut under --fsync batch)", async () => {
    const directory = journalDirectory();
    const idBlock = 8;
    const { broker, journal } = await brokerOn(directory, { idBlock });
    const subscriber = broker.subscribe({ patterns: ["events.#"], queueGroup: "", name: "watcher", statedPid: 0 }, peer);
    const handedOut = await publishMany(broker, 20, "before");
    // Acknowledged and delivered: the subscriber saw all 20.
    expect(((await subscriber.next(100)) ?? []).map((event) => Number(event.eventId))).toEqual(handedOut);
    await journal.close();
    // A power cut loses what was written but not yet synced: the last 12 records, the first of them torn after 5 bytes.
    const [segment] = segmentsOf(directory);
    const path = join(directory, segment);
    truncateSync(path, recordOffset(path, 8) + 5);

    const restarted = await brokerOn(directory, { idBlock });
    expect(restarted.report).toMatchObject({ records: 8, lastId: 8 });
    expect(restarted.broker.headEventId).toBe(8);
    await restarted.journal.close();
    await expectIdsContinue(directory, handedOut, idBlock);
  });

  it("should never give again the ids of writes that failed and were rolled back", async () => {
    const directory = journalDirectory();
    const idBlock = 8;
    const disk = { full: false };
    const writev = (fd: number, buffers: Uint8Array[]) => {
      if (!disk.full) return writevSync(fd, buffers);
      throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
    };
    const { broker, journal } = await brokerOn(directory, { idBlock, writev });
    const stored = await publishMany(broker, 2, "stored");
    disk.full = true;
    await expect(broker.submit([envelope("events.ids.refused"), envelope("events.ids.refused")], peer, true)).rejects.toThrow(/ENOSPC/);
    // Ids 3 and 4 were assigned to the refused batch; the head stays at the stored 2.
    const refused = 4;
    expect([stored, broker.headEventId, broker.stats().lastEventId]).toEqual([[1, 2], 2, 2]);
    await journal.close();
    await expectIdsContinue(directory, [...stored, refused], idBlock);
  });

  it("should never give again the ids of a deleted newest segment", async () => {
    const directory = journalDirectory();
    const idBlock = 8;
    const { broker, journal } = await brokerOn(directory, { idBlock, segmentBytes: 512 });
    const handedOut = await publishMany(broker, 30, "before");
    await journal.close();
    const segments = segmentsOf(directory);
    expect(segments.length).toBeGreaterThan(2);
    unlinkSync(join(directory, segments[segments.length - 1]));
    await expectIdsContinue(directory, handedOut, idBlock);
  });

  it("should never give again the ids of a journal whose segments were all deleted", async () => {
    const directory = journalDirectory();
    const idBlock = 8;
    const { broker, journal } = await brokerOn(directory, { idBlock, segmentBytes: 512 });
    const handedOut = await publishMany(broker, 30, "before");
    await journal.close();
    for (const segment of segmentsOf(directory)) unlinkSync(join(directory, segment));
    await expectIdsContinue(directory, handedOut, idBlock);
  });

  it("should start a segment at the id jump after a restart, so a record damaged there loses only itself", async () => {
    const directory = journalDirectory();
    // A jump far beyond what a few lost records could explain.
    const idBlock = 64;
    const first = await brokerOn(directory, { idBlock, fsync: "never" });
    const before = await publishMany(first.broker, 5, "before");
    await first.journal.close();
    const second = await brokerOn(directory, { idBlock, fsync: "never" });
    const after = await publishMany(second.broker, 5, "after");
    await second.journal.close();
    expect(after[0]).toBeGreaterThan(before[4] + 1);
    expect(segmentsOf(directory)).toEqual(["00000000000000000001.seg", `${String(after[0]).padStart(20, "0")}.seg`]);

    // The first record after the jump gets a length that is not even a varint: the scan must find the next one by its id.
    const { path, offset } = findRecord(directory, after[0]);
    const data = readFileSync(path);
    data.fill(0xff, offset, offset + 10);
    writeFileSync(path, data);
    const restored: number[] = [];
    const journal = new Journal({ directory, fsync: "never" });
    const report = await journal.open({ event: (event) => restored.push(Number(event.eventId)) });
    await journal.close();
    expect(restored).toEqual([...before, ...after.slice(1)]);
    expect(report.problems).toEqual([expect.objectContaining({ offset, action: "skipped" })]);
  });

  it("should reserve ids in blocks, never more than a block past the newest id", async () => {
    const directory = journalDirectory();
    const { broker, journal } = await brokerOn(directory, { idBlock: 1000, fsync: "never" });
    const ids = await publishMany(broker, 2000, "many");
    await journal.close();
    expect(ids[ids.length - 1]).toBe(2000);
    // Reserved through 1001 at the first event, then ahead of need each time half a block was left: never more than a block past the last id.
    const { report, journal: reopened } = await brokerOn(directory, { idBlock: 1000 });
    await reopened.close();
    expect(report.continueAfterId).toBeGreaterThan(2000);
    expect(report.continueAfterId).toBeLessThanOrEqual(3000);
  });
});
