import { spawn } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CorrelationClient, createCorrelationClient } from "../../src/index.js";
import { type BrokerProcess, repoRoot, startBrokerProcess } from "../helpers/broker-process.js";
import { LineReader } from "../helpers/line-reader.js";

function run(command: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: repoRoot });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("schema evolution", () => {
  describe("buf breaking against the released schema (scripts/check-breaking.sh, as CI runs it)", () => {
    let scratch: string;

    beforeAll(() => {
      scratch = mkdtempSync(join(tmpdir(), "corrbus-proto-"));
    });

    afterAll(() => rmSync(scratch, { recursive: true, force: true }));

    function scratchCopy(name: string, edit: (text: string) => string): string {
      const directory = join(scratch, name);
      cpSync(join(repoRoot, "proto"), directory, { recursive: true });
      const file = join(directory, "corrbus", "v1", "envelope.proto");
      const edited = edit(readFileSync(file, "utf8"));
      writeFileSync(file, edited);
      return directory;
    }

    it("should pass for the schema in proto/", async () => {
      const result = await run("bash", ["scripts/check-breaking.sh"]);
      expect(result.stderr + result.stdout).toBe("");
      expect(result.code).toBe(0);
    });

    it("should catch a renumbered field", async () => {
      const directory = scratchCopy("renumbered", (text) => text.replace("string topic = 1;", "string topic = 21;"));
      const result = await run("bash", ["scripts/check-breaking.sh", directory]);
      expect(result.code).not.toBe(0);
      expect(result.stdout + result.stderr).toContain('Previously present field "1" with name "topic" on message "EventEnvelope" was deleted');
    });

    it("should catch a retyped field", async () => {
      const directory = scratchCopy("retyped", (text) => text.replace("uint32 publisher_process_id = 5;", "string publisher_process_id = 5;"));
      const result = await run("bash", ["scripts/check-breaking.sh", directory]);
      expect(result.code).not.toBe(0);
      expect(result.stdout + result.stderr).toContain('changed type from "uint32" to "string"');
    });

    it("should accept a new field", async () => {
      const directory = scratchCopy("added", (text) =>
        text.replace("  PublisherIdentity publisher = 12;", "  PublisherIdentity publisher = 12;\n  // A new field.\n  string note = 16;"),
      );
      const result = await run("bash", ["scripts/check-breaking.sh", directory]);
      expect(result.stdout + result.stderr).toBe("");
      expect(result.code).toBe(0);
    });
  });

  describe("a client generated from the released schema and the current broker", () => {
    let broker: BrokerProcess;
    let current: CorrelationClient;

    beforeAll(async () => {
      broker = await startBrokerProcess();
      current = createCorrelationClient({ socketPath: broker.socketPath, sourceProcess: "current-client" });
    });

    afterAll(async () => {
      current.close();
      await broker.stop();
    });

    const baselineClient = (...args: string[]) =>
      run(process.execPath, [join(repoRoot, "test", "fixtures", "baseline-client.mjs"), broker.socketPath, ...args]);

    it("should publish, subscribe and query, and each side should read what the other wrote", async () => {
      const subscriber = spawn(process.execPath, [join(repoRoot, "test", "fixtures", "baseline-client.mjs"), broker.socketPath, "subscribe", "2"]);
      const lines = new LineReader(subscriber.stdout);
      await lines.waitFor((line) => line.includes('"ready"'), 10_000);

      const root = current.newRootCorrelation("compat", { compat: "yes" });
      const old = await baselineClient("publish", root.correlationId);
      expect(old.stderr).toBe("");
      const oldId = JSON.parse(old.stdout).id;
      const fresh = await current.publish("events.compat.new", "from the current client", { correlation: root, final: true });

      // The current client reads what the old one published.
      const found = await current.service.findByTag({ tags: { compat: "yes" }, oldestFirst: true });
      expect(found.events.map((event) => [String(event.eventId), event.correlationMetadata?.sourceProcess])).toEqual([
        [oldId, "baseline-client"],
        [String(fresh.eventId), "current-client"],
      ]);

      // The old client reads what the current one published, through every query.
      const read = JSON.parse((await baselineClient("read", root.correlationId)).stdout);
      expect(read.found).toEqual([
        { id: oldId, source: "baseline-client", payload: "from the baseline client" },
        { id: String(fresh.eventId), source: "current-client", payload: "from the current client" },
      ]);
      expect(read.timelineEvents).toBe(2);
      expect(read.stages).toEqual(["compat"]);

      await lines.end();
      const events = lines.lines.filter((line) => line.includes('"event"')).map((line) => JSON.parse(line));
      expect(events.map((event) => event.source)).toEqual(["baseline-client", "current-client"]);
      expect(events[1].publisherPid).toBe(process.pid);
    });
  });
});
