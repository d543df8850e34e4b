// Event ids are never given twice, across real broker processes: a broker is
// SIGKILLed after handing out ids (acknowledged to a publisher, delivered to a
// subscriber), then the journal loses the records that held them — a torn
// tail, as a power cut under --fsync batch leaves it, or a newest segment an
// operator deleted — and a new broker starts on it. The subscriber, which
// resumes after the last id it saw, must get every new event.
import { mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { readJournalRecord } from "../../src/storage/journal-record.js";
import { type BrokerProcess, startBrokerProcess } from "../helpers/broker-process.js";
import { eventually } from "../helpers/eventually.js";
import { type FixtureProcess, messagesOf, spawnFixture } from "../helpers/fixture-process.js";

const count = 20;

/** The newest segment of a data directory's journal. */
function newestSegment(dataDir: string): string {
  const directory = join(dataDir, "journal");
  const names = readdirSync(directory)
    .filter((name) => name.endsWith(".seg"))
    .sort();
  return join(directory, names[names.length - 1]);
}

/** Keeps the first `keep` records of the newest segment and 3 bytes of the next: what a power cut leaves of writes not yet synced. */
function tearTail(dataDir: string, keep: number): void {
  const path = newestSegment(dataDir);
  const data = readFileSync(path);
  let offset = 0;
  for (let index = 0; index < keep; index++) {
    const read = readJournalRecord(data, offset);
    if (read.kind !== "record" && read.kind !== "fact") throw new Error(`record ${index} of ${path}: ${read.kind}`);
    offset = read.next;
  }
  truncateSync(path, offset + 3);
}

describe("event ids across a broker crash that lost journal records", () => {
  const cleanup: (() => Promise<unknown> | void)[] = [];

  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  function workspace(): { socket: string; dataDir: string } {
    const directory = mkdtempSync(join(tmpdir(), "corrbus-ids-"));
    cleanup.push(() => rmSync(directory, { recursive: true, force: true }));
    return { socket: join(directory, "run", "corrbus.sock"), dataDir: join(directory, "data") };
  }

  async function broker(socket: string, dataDir: string): Promise<BrokerProcess> {
    const started = await startBrokerProcess(["--data-dir", dataDir, "--fsync", "batch"], socket);
    cleanup.push(() => started.stop());
    return started;
  }

  function publish(socket: string, prefix: string): FixtureProcess {
    return spawnFixture("publisher", ["--socket", socket, "--topic", "events.ids.tick", "--count", String(count), "--prefix", prefix]);
  }

  const losses: [string, (dataDir: string) => void][] = [
    ["a torn tail (the last 12 records lost, the first of them torn)", (dataDir) => tearTail(dataDir, count - 12)],
    ["a deleted newest segment", (dataDir) => unlinkSync(newestSegment(dataDir))],
  ];

  for (const [loss, lose] of losses) {
    it(`should give new events ids above every id handed out before, after ${loss}, so a resuming subscriber misses none`, async () => {
      const { socket, dataDir } = workspace();
      const first = await broker(socket, dataDir);
      const subscriber = spawnFixture("subscriber", ["--socket", socket, "--pattern", "events.ids.#", "--reconnect", "--max", String(2 * count)]);
      cleanup.push(() => void subscriber.child.kill("SIGKILL"));
      await subscriber.waitFor("ready");
      const before = publish(socket, "before");
      expect(await before.exited).toBe(0);
      await eventually(`${count} events delivered before the crash`, () => messagesOf(subscriber, "event").length >= count);
      expect(await first.kill()).toBe("SIGKILL");
      await subscriber.waitFor("reconnect");
      lose(dataDir);

      await broker(socket, dataDir);
      const after = publish(socket, "after");
      expect(await after.exited).toBe(0);
      const handedOut = messagesOf(before, "ack").map((ack) => Number(ack.id));
      const fresh = messagesOf(after, "ack").map((ack) => Number(ack.id));
      expect(Math.min(...fresh)).toBeGreaterThan(Math.max(...handedOut));
      // The subscriber resumed after the last id it saw and got all of the new events.
      expect(await subscriber.exited).toBe(0);
      const events = messagesOf(subscriber, "event");
      expect(events.map((event) => event.payload)).toEqual([
        ...Array.from({ length: count }, (_, index) => `before${index}`),
        ...Array.from({ length: count }, (_, index) => `after${index}`),
      ]);
      expect(events.map((event) => Number(event.id))).toEqual([...handedOut, ...fresh]);
    });
  }
});
