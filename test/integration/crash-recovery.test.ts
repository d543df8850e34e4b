// Crash recovery with real processes: publishers stream at full rate into a
// broker that is SIGKILLed at random moments, several rounds on one data
// directory; after each restart every acknowledged event must be there, once,
// in order, and queries must see it.
//
// What SIGKILL tests and what it cannot: a killed process loses its memory
// but not what it handed to the kernel, so under every fsync policy an
// acknowledged event must survive (under `batch` and `never` the ack means
// "written to the OS"). A power cut, which loses the page cache and bounds
// `batch`'s loss by the sync window (5 ms), cannot be simulated here; the
// `always` guarantee against it rests on the fsync-before-ack the journal
// unit tests check (test/storage/journal.test.ts).
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { EventEnvelope } from "../../gen/corrbus/v1/envelope_pb.js";
import { createCorrelationClient } from "../../src/index.js";
import { readJournalRecord } from "../../src/storage/journal-record.js";
import { type BrokerProcess, runCli, startBrokerProcess } from "../helpers/broker-process.js";
import { type FixtureProcess, messagesOf, spawnFixture } from "../helpers/fixture-process.js";

const rounds = 4;
const publishersPerRound = 2;
const batchSize = 50;
const topic = "events.crash.tick";

/** One event a publisher was told was stored. */
interface AckedEvent {
  id: number;
  payload: string;
}

/** What the test reads in a journal directory itself, before the broker does. */
interface JournalScan {
  records: number;
  /** The torn tail the broker must cut and report, if any. */
  problems: { segment: string; offset: number; bytes: number; action: "truncated" }[];
}

/** Reads every segment as the broker will, to know what its log must say. */
function scanJournal(dataDir: string): JournalScan {
  const directory = join(dataDir, "journal");
  let names: string[] = [];
  try {
    names = readdirSync(directory)
      .filter((name) => name.endsWith(".seg"))
      .sort();
  } catch {
    // No journal yet.
  }
  const scan: JournalScan = { records: 0, problems: [] };
  names.forEach((name, index) => {
    const data = readFileSync(join(directory, name));
    let offset = 0;
    while (offset < data.length) {
      const read = readJournalRecord(data, offset);
      if (read.kind !== "record") {
        // A crash can only tear the end of the segment being written; anything else is a bug.
        expect(index, `damage in ${name} at ${offset}: ${read.kind}`).toBe(names.length - 1);
        expect(read.kind, `${name} at ${offset}`).toBe("torn");
        scan.problems.push({ segment: name, offset, bytes: data.length - offset, action: "truncated" });
        break;
      }
      scan.records++;
      offset = read.next;
    }
  });
  return scan;
}

function payloadText(event: EventEnvelope): string {
  return new TextDecoder().decode(event.payload);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    promise,
    sleep(ms).then(() => {
      throw new Error(`${what}: nothing after ${ms} ms`);
    }),
  ]);
}

describe("crash recovery: SIGKILL while publishers stream", () => {
  const cleanup: (() => Promise<unknown> | void)[] = [];

  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  function workspace(name: string): { socket: string; dataDir: string } {
    const directory = mkdtempSync(join(tmpdir(), `corrbus-crash-${name}-`));
    cleanup.push(() => rmSync(directory, { recursive: true, force: true }));
    return { socket: join(directory, "run", "corrbus.sock"), dataDir: join(directory, "data") };
  }

  async function startBroker(args: string[], socket: string): Promise<BrokerProcess> {
    const broker = await startBrokerProcess(args, socket);
    // After a kill this only removes the helper's temporary directory.
    cleanup.push(() => broker.stop());
    return broker;
  }

  /** Checks the broker's start-up log against the test's own reading of the journal. */
  function expectReplayLogged(broker: BrokerProcess, scan: JournalScan, policy: string): Record<string, unknown> {
    const replayed = broker.logs.find((line) => line.msg === "journal replayed");
    expect(replayed, JSON.stringify(broker.logs.slice(0, 5))).toBeDefined();
    expect(replayed).toMatchObject({ level: "info", fsync: policy, records: scan.records, problems: scan.problems.length });
    const problems = broker.logs.filter((line) => line.msg === "journal problem");
    expect(problems.map(({ level, segment, offset, bytes, action }) => ({ level, segment, offset, bytes, action }))).toEqual(
      scan.problems.map((problem) => ({ level: "warn", ...problem })),
    );
    return replayed as Record<string, unknown>;
  }

  function startPublisher(socket: string, prefix: string, suite: string, name: string): FixtureProcess {
    const publisher = spawnFixture("publisher", [
      "--socket",
      socket,
      "--topic",
      topic,
      "--stream",
      "--batch",
      String(batchSize),
      "--count",
      "100000000",
      "--prefix",
      prefix,
      "--tag",
      `suite=${suite}`,
      "--tag",
      `publisher=${name}`,
    ]);
    cleanup.push(() => void publisher.child.kill("SIGKILL"));
    return publisher;
  }

  /** The events a publisher printed acks for: batch n holds payloads prefix[(n-1)*50 …]. */
  function ackedBy(publisher: FixtureProcess, prefix: string): AckedEvent[] {
    const acked: AckedEvent[] = [];
    messagesOf(publisher, "batch").forEach((batch, index) => {
      expect(Number(batch.sequence)).toBe(index + 1);
      (batch.ids as string[]).forEach((id, offset) => acked.push({ id: Number(id), payload: `${prefix}${index * batchSize + offset}` }));
    });
    return acked;
  }

  /** Every event with the suite's tag, oldest first, through FindByTag pages. */
  async function findAll(client: ReturnType<typeof createCorrelationClient>, suite: string): Promise<EventEnvelope[]> {
    const found: EventEnvelope[] = [];
    let pageToken = "";
    do {
      const page = await client.service.findByTag({ tags: { suite }, oldestFirst: true, limit: 1000, pageToken });
      found.push(...page.events);
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    return found;
  }

  /** Every stored event on the topic, by Subscribe with replay from event 1. */
  async function replayAll(client: ReturnType<typeof createCorrelationClient>, expected: number): Promise<EventEnvelope[]> {
    const abort = new AbortController();
    const seen: EventEnvelope[] = [];
    const reading = (async () => {
      const stream = client.service.subscribe(
        { patterns: ["events.crash.#"], subscriberName: "crash-check", start: { case: "fromEventId", value: 1n } },
        { signal: abort.signal },
      );
      for await (const response of stream) {
        seen.push(...response.events);
        if (seen.length >= expected) break;
      }
    })();
    try {
      await within(reading, 20_000, `replay of ${expected} events (got ${seen.length})`);
    } finally {
      abort.abort();
    }
    return seen;
  }

  it.each(["always", "batch"])(
    "--fsync %s: every acknowledged event survives repeated SIGKILLs, exactly once and in order",
    async (policy) => {
      const started = Date.now();
      const { socket, dataDir } = workspace(policy);
      const suite = `crash-${policy}`;
      const acked: AckedEvent[] = [];
      const prefixes: string[] = [];
      const figures: string[] = [];
      let previousRecords = 0;

      for (let round = 1; round <= rounds; round++) {
        const scan = scanJournal(dataDir);
        // Same data directory and socket every round: the stale socket is replaced.
        const broker = await startBroker(["--data-dir", dataDir, "--fsync", policy], socket);
        const replayed = expectReplayLogged(broker, scan, policy);
        expect(scan.records).toBeGreaterThanOrEqual(previousRecords);
        if (round > 1) expect(broker.logs.map((line) => line.msg)).toContain("replaced a stale socket (no process was listening on it)");

        const publishers = Array.from({ length: publishersPerRound }, (_, index) => {
          const prefix = `${policy}-r${round}-p${index}-`;
          prefixes.push(prefix);
          return { prefix, process: startPublisher(socket, prefix, suite, `r${round}p${index}`) };
        });
        // Both streaming at full rate, then a random moment.
        await Promise.all(publishers.map(({ process }) => process.waitFor("batch", 20_000)));
        const delayMs = 100 + Math.floor(Math.random() * 500);
        await sleep(delayMs);
        expect(await broker.kill()).toBe("SIGKILL");

        let roundAcked = 0;
        for (const { prefix, process } of publishers) {
          // The broker is gone: each publisher's stream fails and it exits 1.
          expect(await within(process.exited, 15_000, `publisher ${prefix} exit`)).toBe(1);
          expect(messagesOf(process, "error")).toHaveLength(1);
          const events = ackedBy(process, prefix);
          roundAcked += events.length;
          acked.push(...events);
        }
        figures.push(
          `round ${round}: killed after ${delayMs} ms, ${roundAcked} acked; replay found ${replayed.records} records, ${scan.problems.length} torn tail(s)`,
        );
        previousRecords = scan.records;
      }

      // The last restart: everything must be there.
      const scan = scanJournal(dataDir);
      const broker = await startBroker(["--data-dir", dataDir, "--fsync", policy], socket);
      const replayed = expectReplayLogged(broker, scan, policy);
      const client = createCorrelationClient({ socketPath: socket, sourceProcess: "crash-check" });
      cleanup.push(() => client.close());

      const found = await findAll(client, suite);
      expect(found.length).toBe(scan.records);
      expect(replayed.lastId).toBe(Number(found.at(-1)?.eventId ?? 0));
      const ids = found.map((event) => Number(event.eventId));
      for (let index = 1; index < ids.length; index++) expect(ids[index]).toBeGreaterThan(ids[index - 1]);
      const payloadById = new Map(found.map((event) => [Number(event.eventId), payloadText(event)]));

      // Every acknowledged event: present, with the payload that was acknowledged.
      const missing = acked.filter((event) => !payloadById.has(event.id));
      const mismatched = acked.filter((event) => payloadById.has(event.id) && payloadById.get(event.id) !== event.payload);
      expect(missing, `acked but missing: ${JSON.stringify(missing.slice(0, 5))}`).toEqual([]);
      expect(mismatched, `acked with another payload: ${JSON.stringify(mismatched.slice(0, 5))}`).toEqual([]);

      // Exactly once and in publish order: each publisher's stored events are
      // payloads 0, 1, 2, … with no gap or repeat, at least as many as were acked.
      let unacknowledged = 0;
      const rootByPrefix = new Map<string, string>();
      for (const prefix of prefixes) {
        const own = found.filter((event) => payloadText(event).startsWith(prefix));
        expect(own.map(payloadText)).toEqual(own.map((_, index) => `${prefix}${index}`));
        const ackedCount = acked.filter((event) => event.payload.startsWith(prefix)).length;
        expect(own.length).toBeGreaterThanOrEqual(ackedCount);
        unacknowledged += own.length - ackedCount;
        const roots = new Set(own.map((event) => event.correlationMetadata?.rootCorrelationId));
        expect(roots.size).toBe(1);
        rootByPrefix.set(prefix, [...roots][0] as string);
      }
      expect(new Set(found.map(payloadText)).size).toBe(found.length);

      // Subscribe with replay from event 1 sees the same events.
      const replay = await replayAll(client, found.length);
      expect(replay.map((event) => Number(event.eventId))).toEqual(ids);
      expect(replay.map(payloadText)).toEqual(found.map(payloadText));

      // GetTimeline of each publisher's workflow has all its events.
      for (const [prefix, root] of rootByPrefix) {
        const timeline: EventEnvelope[] = [];
        let afterEventId = 0n;
        for (;;) {
          const page = await client.service.getTimeline({ rootCorrelationId: root, limit: 5000, afterEventId });
          timeline.push(...page.events);
          if (!page.truncated) break;
          afterEventId = page.events[page.events.length - 1].eventId;
        }
        const own = found.filter((event) => payloadText(event).startsWith(prefix));
        expect(timeline.map((event) => Number(event.eventId))).toEqual(own.map((event) => Number(event.eventId)));
        expect(timeline.map(payloadText)).toEqual(own.map(payloadText));
      }

      const stats = await client.service.getStats({});
      expect(stats.journal).toMatchObject({ fsyncPolicy: policy, recordsReplayed: BigInt(scan.records) });

      // Figures for the record (the report quotes them).
      console.log(
        [
          `--fsync ${policy}: ${acked.length} acked over ${rounds} kills, ${found.length} stored, 0 missing, 0 duplicates, ` +
            `${unacknowledged} stored without an ack reaching the publisher, ${Date.now() - started} ms`,
          ...figures,
          `final: replay found ${replayed.records} records, ${scan.problems.length} torn tail(s)`,
        ].join("\n  "),
      );
    },
    90_000,
  );

  it("should cut a torn tail and skip a flipped byte in a killed broker's journal, log both as journal problems, and serve the rest", async () => {
    const { socket, dataDir } = workspace("damage");
    const first = await startBroker(["--data-dir", dataDir, "--fsync", "always"], socket);
    const publisher = spawnFixture("publisher", ["--socket", socket, "--topic", topic, "--count", "20", "--prefix", "t", "--tag", "suite=damage"]);
    expect(await publisher.exited).toBe(0);
    expect(messagesOf(publisher, "ack").map((ack) => Number(ack.id))).toEqual(Array.from({ length: 20 }, (_, index) => index + 1));
    await first.kill();

    // Damage the file as a disk could: a flipped byte in record 5, and a tail torn inside record 20.
    const name = "00000000000000000001.seg";
    const path = join(dataDir, "journal", name);
    const data = readFileSync(path);
    const starts: number[] = [];
    for (let offset = 0; offset < data.length; ) {
      const read = readJournalRecord(data, offset);
      if (read.kind !== "record") throw new Error(`unexpected ${read.kind} at ${offset}`);
      starts.push(offset);
      offset = read.next;
    }
    expect(starts).toHaveLength(20);
    const fifthLength = starts[5] - starts[4];
    data[starts[4] + Math.floor(fifthLength / 2)] ^= 0x40;
    const cut = data.length - 3;
    writeFileSync(path, data.subarray(0, cut));

    const second = await startBroker(["--data-dir", dataDir, "--fsync", "always"], socket);
    const problems = second.logs.filter((line) => line.msg === "journal problem");
    expect(problems).toEqual([
      expect.objectContaining({ level: "warn", segment: name, offset: starts[4], bytes: fifthLength, reason: "checksum mismatch", action: "skipped" }),
      expect.objectContaining({ level: "warn", segment: name, offset: starts[19], bytes: cut - starts[19], action: "truncated" }),
    ]);
    expect(second.logs.find((line) => line.msg === "journal replayed")).toMatchObject({ records: 18, firstId: 1, lastId: 19, problems: 2 });
    expect(statSync(path).size).toBe(starts[19]);

    const client = createCorrelationClient({ socketPath: socket, sourceProcess: "damage-check" });
    cleanup.push(() => client.close());
    const found = await findAll(client, "damage");
    expect(found.map((event) => Number(event.eventId))).toEqual([1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    expect(found.map(payloadText)).toEqual(found.map((event) => `t${Number(event.eventId) - 1}`));
    const stats = await client.service.getStats({});
    expect(stats.journal).toMatchObject({ recordsReplayed: 18n, problems: 2n });
    // New events get ids above every id handed out before (20 was acknowledged, then torn off) and are readable after another restart.
    const more = spawnFixture("publisher", ["--socket", socket, "--topic", topic, "--count", "2", "--prefix", "u", "--tag", "suite=damage"]);
    expect(await more.exited).toBe(0);
    const moreIds = messagesOf(more, "ack").map((ack) => Number(ack.id));
    expect(moreIds[0]).toBeGreaterThan(20);
    expect(moreIds[1]).toBe(moreIds[0] + 1);
    await second.kill();
    const third = await startBroker(["--data-dir", dataDir, "--fsync", "always"], socket);
    // The skipped record is still in the file and reported again; the cut tail is gone for good.
    expect(third.logs.filter((line) => line.msg === "journal problem")).toEqual([expect.objectContaining({ offset: starts[4], action: "skipped" })]);
    expect(third.logs.find((line) => line.msg === "journal replayed")).toMatchObject({ records: 20, lastId: moreIds[1], problems: 1 });
  });

  it("should refuse a second broker on the same data directory, and take over the lock of a SIGKILLed one", async () => {
    const { socket, dataDir } = workspace("lock");
    const first = await startBroker(["--data-dir", dataDir], socket);
    const otherSocket = join(dataDir, "..", "run2", "corrbus.sock");
    const second = await runCli(["serve", "--socket", otherSocket, "--data-dir", dataDir]);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`data directory ${dataDir} is in use by process ${first.child.pid}`);
    expect(second.stderr).toContain("stop it or choose another --data-dir");
    expect(readFileSync(join(dataDir, "LOCK"), "utf8").trim()).toBe(String(first.child.pid));

    // The first one still serves.
    const publisher = spawnFixture("publisher", ["--socket", socket, "--topic", topic, "--count", "3"]);
    expect(await publisher.exited).toBe(0);

    // A crash leaves the LOCK naming a dead process: the next broker takes it over.
    await first.kill();
    const third = await startBroker(["--data-dir", dataDir], otherSocket);
    expect(third.logs.find((line) => line.msg === "journal replayed")).toMatchObject({ records: 3, lastId: 3 });
    expect(readFileSync(join(dataDir, "LOCK"), "utf8").trim()).toBe(String(third.child.pid));
    // It serves (and, past its first answer, has its SIGTERM handler: see the report on that start-up race).
    const after = spawnFixture("publisher", ["--socket", otherSocket, "--topic", topic, "--count", "1"]);
    expect(await after.exited).toBe(0);
    expect(Number(messagesOf(after, "ack")[0].id)).toBeGreaterThan(3);
    expect(await third.stop()).toBe(0);
  });
});
