// The host id (issue 16, step 1): every event a broker accepts carries its
// host id, stamped by the broker (a publisher's own host_id, origin_event_id
// and origin_received_at are dropped), on every path in and out: Connect JSON
// and Connect binary publishes, Connect JSON and binary FindByTag, the CLI's
// `find --json`, and again after a SIGKILL restart from the journal. The
// default is the machine id; a bad --host-id is refused naming the flag.
import { randomBytes, randomUUID } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CorrelationClient, createCorrelationClient } from "../../src/index.js";
import { type BrokerProcess, runCli, startBrokerProcess } from "../helpers/broker-process.js";
import { connectJsonHttp1 } from "../helpers/connect-json.js";

const hostId = `host-${randomBytes(4).toString("hex")}`;
const investigation = `INC-HOST-${randomBytes(4).toString("hex")}`;

async function findJsonHostIds(socketPath: string): Promise<{ hostIds: string[]; origins: unknown[] }> {
  const found = await connectJsonHttp1(socketPath, "FindByTag", { tags: { investigation_id: investigation }, oldestFirst: true });
  const events: { hostId?: string; originEventId?: string }[] = found.events ?? [];
  return { hostIds: events.map((event) => event.hostId ?? ""), origins: events.map((event) => event.originEventId) };
}

async function cliHostIds(socketPath: string): Promise<string[]> {
  const result = await runCli(["find", "--tag", `investigation_id=${investigation}`, "--json", "--socket", socketPath]);
  expect(result.code, result.stderr).toBe(0);
  return result.stdout
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line).host_id);
}

describe("the host id", () => {
  let broker: BrokerProcess;
  let client: CorrelationClient;
  let dataDir: string;

  beforeAll(async () => {
    broker = await startBrokerProcess(["--host-id", hostId]);
    dataDir = `${broker.directory}/data`;
    client = createCorrelationClient({ socketPath: broker.socketPath, sourceProcess: "host-identity-test" });
  });

  afterAll(async () => {
    client.close();
    await broker.stop();
  });

  describe("on events published", () => {
    it("should be stamped by the broker over Connect JSON and binary, whatever the publisher sent", async () => {
      const root = randomUUID();
      const tags = { investigation_id: investigation };
      await connectJsonHttp1(broker.socketPath, "Publish", {
        envelope: {
          topic: "events.host.json",
          correlationMetadata: { correlationId: root, rootCorrelationId: root, correlationTags: tags },
          hostId: "forged-by-publisher",
          originEventId: "77",
          originReceivedAt: "2020-01-01T00:00:00Z",
        },
      });
      const envelope = client.envelope("events.host.binary", new Uint8Array([1]), { correlation: client.newRootCorrelation("binary", tags) });
      envelope.hostId = "forged-too";
      envelope.originEventId = 5n;
      await client.service.publish({ envelope });
      const { hostIds, origins } = await findJsonHostIds(broker.socketPath);
      expect(hostIds).toEqual([hostId, hostId]);
      // origin_event_id is a central broker's; 0 (left out of JSON) on the host itself.
      expect(origins).toEqual([undefined, undefined]);
      const binary = await client.service.findByTag({ tags, oldestFirst: true });
      expect(binary.events.map((event) => [event.hostId, event.originEventId, event.originReceivedAt])).toEqual([
        [hostId, 0n, undefined],
        [hostId, 0n, undefined],
      ]);
    });

    it("should show in `corrbus find --json` and in GetStats", async () => {
      expect(await cliHostIds(broker.socketPath)).toEqual([hostId, hostId]);
      expect((await client.service.getStats({})).hostId).toBe(hostId);
    });

    it("should survive a SIGKILL restart from the journal", async () => {
      await broker.kill();
      const again = await startBrokerProcess(["--data-dir", dataDir, "--host-id", hostId]);
      try {
        expect((await findJsonHostIds(again.socketPath)).hostIds).toEqual([hostId, hostId]);
        expect(await cliHostIds(again.socketPath)).toEqual([hostId, hostId]);
      } finally {
        await again.stop();
      }
    });
  });

  describe("its option", () => {
    it("should default to the machine id", async () => {
      if (!existsSync("/etc/machine-id")) throw new Error("this test needs /etc/machine-id");
      const plain = await startBrokerProcess(["--in-memory"]);
      try {
        const stats = JSON.parse((await runCli(["stats", "--json", "--socket", plain.socketPath])).stdout);
        expect(stats.host_id).toBe(readFileSync("/etc/machine-id", "utf8").trim());
      } finally {
        await plain.stop();
      }
    });

    for (const [bad, complaint] of [
      ["", "--host-id: must not be empty"],
      ["a.b", '--host-id: "a.b" has "." at 1: only [A-Za-z0-9_-] may be used'],
      ["x".repeat(65), "--host-id: 65 characters exceeds the limit of 64"],
    ]) {
      it(`should refuse ${JSON.stringify(bad.slice(0, 8))} naming the flag and the rule, with exit code 2`, async () => {
        const result = await runCli(["serve", "--in-memory", "--host-id", bad, "--socket", `${broker.directory}/never.sock`]);
        expect(result.code).toBe(2);
        expect(result.stderr).toContain(complaint);
      });
    }
  });
});
