import { appendFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, startBrokerProcess } from "../helpers/broker-process.js";
import { spawnFixture } from "../helpers/fixture-process.js";

describe("corrbus journal verify|dump", () => {
  let directory: string;
  let dataDir: string;
  let segment: string;

  beforeAll(async () => {
    directory = mkdtempSync(join(tmpdir(), "corrbus-journal-cli-"));
    dataDir = join(directory, "data");
    const broker = await startBrokerProcess(["--data-dir", dataDir]);
    const publisher = spawnFixture("publisher", ["--socket", broker.socketPath, "--count", "12", "--tag", "case=journal"]);
    expect(await publisher.exited).toBe(0);
    expect(await broker.stop()).toBe(0);
    const journal = join(dataDir, "journal");
    segment = join(journal, readdirSync(journal).find((name) => name.endsWith(".seg")) as string);
  });

  afterAll(() => rmSync(directory, { recursive: true, force: true }));

  it("should verify a sound journal with exit code 0", async () => {
    const result = await runCli(["journal", "verify", "--data-dir", dataDir]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(": 1 segments, 12 records, event_id 1..12");
    expect(result.stdout).toContain("no problems");
    // The broker reserved ids ahead of the ones it used: the next broker continues above them.
    const reserved = Number(/event ids reserved through (\d+): new events get ids above it/.exec(result.stdout)?.[1]);
    expect(reserved).toBeGreaterThanOrEqual(12);
  });

  it("should dump every event as a JSON line with proto field names, within --from/--to", async () => {
    const all = await runCli(["journal", "dump", "--data-dir", dataDir]);
    expect(all.code).toBe(0);
    const events = all.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(events.map((event) => Number(event.event_id))).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(events[0].correlation_metadata.correlation_tags).toEqual({ case: "journal" });
    expect(Buffer.from(events[3].payload, "base64").toString()).toBe("e3");
    const some = await runCli(["journal", "dump", "--data-dir", dataDir, "--from", "5", "--to", "7"]);
    expect(
      some.stdout
        .trim()
        .split("\n")
        .map((line) => Number(JSON.parse(line).event_id)),
    ).toEqual([5, 6, 7]);
  });

  it("should report a flipped byte and a torn tail with exit code 1, changing nothing", async () => {
    const original = readFileSync(segment);
    try {
      // Wherever the flip lands (a length, a field, the checksum), only that record is lost.
      const damaged = Buffer.from(original);
      damaged[Math.floor(damaged.length / 2)] ^= 0xff;
      writeFileSync(segment, damaged);
      appendFileSync(segment, Buffer.from([0x90, 0x01, 0x0a]));
      const result = await runCli(["journal", "verify", "--data-dir", dataDir, "--json"]);
      expect(result.code).toBe(1);
      const report = JSON.parse(result.stdout);
      expect(report.records).toBe(11);
      expect(report.event_ids_reserved_through).toBeGreaterThanOrEqual(12);
      expect(report.problems.map((problem: { action: string }) => problem.action)).toEqual(["skipped", "truncated"]);
      expect(report.problems[1].bytes).toBe(3);
      expect(readFileSync(segment).length).toBe(original.length + 3);
    } finally {
      writeFileSync(segment, original);
    }
  });

  it("should answer a usage error with exit code 2", async () => {
    const result = await runCli(["journal", "fix"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('"fix" is not verify or dump');
  });
});
