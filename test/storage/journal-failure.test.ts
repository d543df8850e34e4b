import { mkdtempSync, rmSync, writevSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { PeerIdentity } from "../../src/core/broker-ports.js";
import { CorrelationBroker } from "../../src/core/correlation-broker.js";
import { StorageError } from "../../src/core/validation/broker-errors.js";
import { Journal } from "../../src/storage/journal.js";
import { envelope } from "../core/core-fixtures.js";

// A disk that fills up and frees again, as the journal sees it: the write
// system call writes part of what it was given, then fails with ENOSPC.

const peer: PeerIdentity = { verified: false };
const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

function journalDirectory(): string {
  const root = mkdtempSync(join(tmpdir(), "corrbus-journal-failure-"));
  directories.push(root);
  return join(root, "journal");
}

/** writev as a disk that may be full: when full, half of the first buffer gets written, then ENOSPC. */
function fillableDisk() {
  const disk = { full: false, calls: 0 };
  const writev = (fd: number, buffers: Uint8Array[]) => {
    disk.calls++;
    if (!disk.full) return writevSync(fd, buffers);
    writevSync(fd, [buffers[0].subarray(0, buffers[0].length >> 1)]);
    throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
  };
  return { disk, writev };
}

async function brokerOn(directory: string, clock: { now: number }, writev?: (fd: number, buffers: Uint8Array[]) => number) {
  const log: string[] = [];
  const journal = new Journal({
    directory,
    fsync: "always",
    writev,
    now: () => clock.now,
    onWriteFailure: (error) => log.push(`failed: ${error.message}`),
    onRecovered: (failedForMs) => log.push(`recovered after ${failedForMs} ms`),
  });
  const broker = new CorrelationBroker({}, () => clock.now, journal);
  const report = await journal.open({ event: (event) => broker.restore(event), fact: (fact) => broker.restoreFact(fact) });
  broker.continueAfter(report.continueAfterId);
  broker.finishRestore();
  return { broker, journal, log, report };
}

const publish = (broker: CorrelationBroker, name: string) => broker.submit([envelope(`events.disk.${name}`)], peer, false);

describe("the journal when the disk fills up", () => {
  it("should refuse publishes while writes fail (nothing stored, nothing routed), log once, and write again when space returns", async () => {
    const directory = journalDirectory();
    const clock = { now: 1_700_000_000_000 };
    const { disk, writev } = fillableDisk();
    const { broker, journal, log } = await brokerOn(directory, clock, writev);
    const subscription = broker.subscribe({ patterns: ["events.#"], queueGroup: "", name: "watcher", statedPid: 0 }, peer);
    await publish(broker, "before");

    disk.full = true;
    await expect(publish(broker, "lost")).rejects.toThrow(StorageError);
    // The refused event's id was assigned but never stored: the head stays at the stored one.
    expect(broker.headEventId).toBe(1);
    // Refused at once within the retry interval: no write is tried.
    const calls = disk.calls;
    clock.now += 999;
    await expect(publish(broker, "refused")).rejects.toThrow(/ENOSPC/);
    expect(disk.calls).toBe(calls);
    // Tried again after it, and still full: refused, not logged again.
    clock.now += 1;
    await expect(publish(broker, "still-full")).rejects.toThrow(StorageError);
    expect(log).toEqual(["failed: ENOSPC: no space left on device, write"]);

    disk.full = false;
    clock.now += 1000;
    await publish(broker, "after");
    expect(log).toEqual(["failed: ENOSPC: no space left on device, write", "recovered after 2000 ms"]);
    expect(journal.stats()).toMatchObject({ writeFailures: 2, recoveries: 1 });
    const routed = ((await subscription.next(100)) ?? []).map((event) => event.topic);
    expect(routed).toEqual(["events.disk.before", "events.disk.after"]);
    expect(broker.stats().eventsStored).toBe(2);
    // Five ids were assigned: two stored (1 and 5), three refused (two by failed writes, one without a write).
    const assigned = 5;
    const head = broker.headEventId;
    expect(head).toBe(5);
    await journal.close();

    // The half-written records were cut off: a restart reads exactly the acknowledged events, with no problem.
    const restarted = await brokerOn(directory, clock);
    expect(restarted.report).toMatchObject({ records: 2, problems: [] });
    // The head is the newest stored event; ids the journal refused are never given again.
    expect(restarted.broker.headEventId).toBe(head);
    const [next] = await publish(restarted.broker, "next");
    expect(next.eventId).toBeGreaterThan(assigned);
    const stored = [1, 5, next.eventId].map((id) => restarted.broker.event(id)?.topic);
    expect(stored).toEqual(["events.disk.before", "events.disk.after", "events.disk.next"]);
    await restarted.journal.close();
  });
});

describe("a journal replay that is told to stop", () => {
  it("should stop between segments with the signal's reason, and leave the journal as it was for the next start", async () => {
    const directory = journalDirectory();
    const clock = { now: 1_700_000_000_000 };
    const writer = new Journal({ directory, fsync: "never", segmentBytes: 512, now: () => clock.now });
    const broker = new CorrelationBroker({}, () => clock.now, writer);
    await writer.open({ event: () => {} });
    for (let index = 0; index < 30; index++) await publish(broker, `n${index}`);
    await writer.close();

    const reader = new Journal({ directory, fsync: "never" });
    const stop = new AbortController();
    const progress: string[] = [];
    const replay = reader.open({ event: () => {} }, stop.signal, (done, of) => {
      progress.push(`${done}/${of}`);
      if (done === 1) stop.abort(new Error("stopped by SIGTERM during start-up"));
    });
    await expect(replay).rejects.toThrow("stopped by SIGTERM during start-up");
    expect(progress).toHaveLength(1);
    expect(Number(progress[0].split("/")[1])).toBeGreaterThan(2);

    const again = new Journal({ directory, fsync: "never" });
    const report = await again.open({ event: () => {} });
    expect(report).toMatchObject({ records: 30, problems: [] });
    await again.close();
  });
});
