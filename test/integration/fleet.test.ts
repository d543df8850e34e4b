// The fleet (issue 16), all real processes: one nats-server with JetStream,
// three host brokers (own sockets, data directories and host ids) forwarding
// their journals to it, one central broker ingesting the stream. Fleet-wide
// queries on the central answer for every host; then faults under load —
// nats-server SIGKILLed and restarted, a host broker SIGKILLed mid-forward and
// restarted, the central SIGKILLed and restarted — and afterwards the stream
// and the central hold every event each host journaled exactly once (counts
// and ids compared with each host's own journal, `corrbus journal dump`).
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CorrelationClient, type GetStatsResponse, createCorrelationClient } from "../../src/index.js";
import { type BrokerProcess, runCli, startBrokerProcess } from "../helpers/broker-process.js";
import { type FixtureProcess, spawnFixture } from "../helpers/fixture-process.js";
import { journalEvents, streamEvents, within } from "../helpers/fleet-checks.js";
import { type NatsServerProcess, natsServerVersion, startNatsServer } from "../helpers/nats-server.js";

const hasNatsServer = natsServerVersion() !== undefined;
const inCi = process.env.CI === "true";
if (!hasNatsServer && !inCi) console.warn("fleet.test: skipped, nats-server not found (apt-get install nats-server)");

const run = randomBytes(3).toString("hex");
const hostIds = ["host-a", "host-b", "host-c"].map((name) => `${name}-${run}`);
const investigation = `INC-FLEET-${run}`;

/** A host broker and what the test keeps of it across restarts. */
interface Host {
  id: string;
  broker: BrokerProcess;
  /** Every process started for it (old ones removed at the end: they own the data directory). */
  processes: BrokerProcess[];
  dataDir: string;
  client: CorrelationClient;
}

function forwardCaughtUp(stats: GetStatsResponse): boolean {
  const forward = stats.forward;
  return forward?.connected === true && forward.lagEvents === 0n && forward.inFlight === 0;
}

describe.skipIf(!hasNatsServer && !inCi)("the fleet on NATS JetStream", () => {
  let nats: NatsServerProcess;
  const natsProcesses: NatsServerProcess[] = [];
  const hosts: Host[] = [];
  let central: BrokerProcess;
  const centralProcesses: BrokerProcess[] = [];
  let centralDataDir: string;
  let centralClient: CorrelationClient;

  const hostArgs = (id: string, dataDir?: string) => ["--host-id", id, "--forward", nats.url, ...(dataDir === undefined ? [] : ["--data-dir", dataDir])];
  const centralArgs = (dataDir?: string) => ["--host-id", `central-${run}`, "--ingest", nats.url, ...(dataDir === undefined ? [] : ["--data-dir", dataDir])];

  async function restartHost(host: Host): Promise<void> {
    host.client.close();
    host.broker = await startBrokerProcess(hostArgs(host.id, host.dataDir), host.broker.socketPath);
    host.processes.push(host.broker);
    host.client = createCorrelationClient({ socketPath: host.broker.socketPath, sourceProcess: "fleet-test" });
  }

  async function restartCentral(): Promise<void> {
    centralClient.close();
    central = await startBrokerProcess(centralArgs(centralDataDir), central.socketPath);
    centralProcesses.push(central);
    centralClient = createCorrelationClient({ socketPath: central.socketPath, sourceProcess: "fleet-test" });
  }

  /** Waits until every host has forwarded everything and the central holds as many events of each host as its journal. */
  async function quiesce(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = "";
    for (;;) {
      const states: string[] = [];
      const lags = (await within(centralClient.service.getStats({}), 5000, () => "GetStats of the central")).ingest?.hostLags ?? [];
      for (const host of hosts) {
        const stats = await within(host.client.service.getStats({}), 5000, () => `GetStats of ${host.id}`);
        const ingested = lags.find((lag) => lag.hostId === host.id)?.events ?? 0n;
        if (!forwardCaughtUp(stats) || ingested !== stats.eventsStored) {
          states.push(`${host.id}: stored ${stats.eventsStored}, forward lag ${stats.forward?.lagEvents}, ingested ${ingested}`);
        }
      }
      if (states.length === 0) return;
      last = states.join("; ");
      if (Date.now() > deadline) {
        const warnings = [...centralProcesses, ...hosts.flatMap((host) => host.processes)].flatMap((broker) =>
          broker.logs.filter((line) => line.level === "warn" || line.level === "error"),
        );
        throw new Error(`the fleet did not catch up in ${timeoutMs} ms: ${last}; warnings: ${JSON.stringify(warnings.slice(-10))}`);
      }
      await delay(200);
    }
  }

  beforeAll(async () => {
    if (!hasNatsServer) throw new Error("nats-server not found, and CI=true needs it: apt-get install nats-server");
    nats = (await startNatsServer()) as NatsServerProcess;
    natsProcesses.push(nats);
    for (const id of hostIds) {
      const broker = await startBrokerProcess(hostArgs(id));
      const client = createCorrelationClient({ socketPath: broker.socketPath, sourceProcess: "fleet-test" });
      hosts.push({ id, broker, processes: [broker], dataDir: join(broker.directory, "data"), client });
    }
    central = await startBrokerProcess(centralArgs());
    centralProcesses.push(central);
    centralDataDir = join(central.directory, "data");
    centralClient = createCorrelationClient({ socketPath: central.socketPath, sourceProcess: "fleet-test" });
  }, 60_000);

  afterAll(async () => {
    for (const host of hosts) host.client.close();
    centralClient?.close();
    // Newest first: an older process's stop() removes the directory the newer one's data lives in.
    for (const broker of [...centralProcesses, ...hosts.flatMap((host) => host.processes)].reverse()) await broker.stop();
    for (const server of natsProcesses.reverse()) await server.stop();
  });

  describe("fleet-wide queries on the central broker", () => {
    it("should find every tagged event of all three hosts with the right host ids, and a host's timeline event for event", async () => {
      const roots = new Map<string, string>();
      for (const host of hosts) {
        const root = host.client.newRootCorrelation("triage", { investigation_id: investigation });
        roots.set(host.id, root.correlationId);
        await host.client.publish("events.triage.started", { host: host.id }, { correlation: root });
        const child = host.client.childCorrelation(root, "hash", { investigation_id: investigation });
        await host.client.publish("events.hash.computed", { sha256: "ab".repeat(32) }, { correlation: child, final: true });
        await host.client.publish("events.triage.done", {}, { correlation: root, final: true });
      }
      await quiesce(30_000);

      const found = await runCli(["find", "--tag", `investigation_id=${investigation}`, "--all", "--oldest-first", "--json", "--socket", central.socketPath]);
      expect(found.code, found.stderr).toBe(0);
      const events = found.stdout
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line));
      for (const host of hosts) {
        const own = (await host.client.service.findByTag({ tags: { investigation_id: investigation }, oldestFirst: true })).events;
        const fromCentral = events.filter((event) => event.host_id === host.id);
        expect(own.length).toBe(3);
        expect(fromCentral.map((event) => [event.origin_event_id, event.topic])).toEqual(own.map((event) => [String(event.eventId), event.topic]));
      }
      expect(events.length).toBe(9);

      // corrbus stats: the host's forwarding, the central's ingest with its hosts.
      const hostStats = await runCli(["stats", "--socket", hosts[0].broker.socketPath]);
      expect(hostStats.stdout).toMatch(/forward\n[\s\S]*connected +yes[\s\S]*lag +0 events, 0 s/);
      const centralStats = await runCli(["stats", "--socket", central.socketPath]);
      for (const host of hosts) expect(centralStats.stdout).toMatch(new RegExp(`${host.id} +3 events, last origin event_id \\d+, lag`));

      // One host's share, by the additive host filter.
      const share = await centralClient.service.findByTag({ tags: { investigation_id: investigation }, hostId: hosts[1].id });
      expect(new Set(share.events.map((event) => event.hostId))).toEqual(new Set([hosts[1].id]));

      for (const host of hosts) {
        const root = roots.get(host.id) as string;
        const own = await host.client.service.getTimeline({ rootCorrelationId: root });
        const fromCentral = await centralClient.service.getTimeline({ rootCorrelationId: root });
        expect(fromCentral.events.map((event) => [event.hostId, event.originEventId, event.topic, event.correlationMetadata?.correlationId])).toEqual(
          own.events.map((event) => [host.id, event.eventId, event.topic, event.correlationMetadata?.correlationId]),
        );
        expect(fromCentral.correlations.map((state) => [state.correlationId, state.totalEvents])).toEqual(
          own.correlations.map((state) => [state.correlationId, state.totalEvents]),
        );
      }
    }, 60_000);
  });

  describe("its options", () => {
    /** `corrbus serve --in-memory --forward URL`: what it prints and exits with (it must not start). */
    const serveForwarding = (url: string) =>
      runCli(["serve", "--in-memory", "--host-id", "x", "--forward", url, "--socket", join(central.directory, "no.sock")]);

    it("should refuse clear text to a non-loopback server without --forward-insecure, with exit code 2", async () => {
      const result = await serveForwarding("nats://192.0.2.1:4222");
      expect(result.code).toBe(2);
      expect(result.stderr).toContain("--forward: 192.0.2.1 is not a loopback address and no TLS is set");
    });

    it("should refuse --forward with --in-memory in one line, with exit code 2 (nothing journaled to forward)", async () => {
      const result = await serveForwarding("nats://127.0.0.1:4222");
      expect(result.code).toBe(2);
      expect(result.stderr).toContain("corrbus serve: --forward needs the journal: it forwards what the journal stores (drop --in-memory)");
      expect(result.stderr, "no stack trace").not.toMatch(/\n\s+at /);
    });
  });

  describe("after faults under load", () => {
    it("should hold every journaled event exactly once in the stream and on the central broker", async () => {
      const publishers: FixtureProcess[] = [];
      const publish = (host: Host, count: number) => {
        const fixture = spawnFixture("stream-publisher", [
          "--socket",
          host.broker.socketPath,
          "--count",
          String(count),
          "--per-tick",
          "10",
          "--tick-ms",
          "10",
          "--topic",
          "events.load.fleet",
        ]);
        publishers.push(fixture);
        return fixture;
      };
      const first = hosts.map((host) => publish(host, 1500));
      await delay(300);

      // nats-server dies mid-stream and comes back on the same port with its store.
      await nats.kill();
      await delay(700);
      nats = (await startNatsServer({ port: nats.port, storeDirectory: nats.storeDirectory })) as NatsServerProcess;
      natsProcesses.push(nats);

      // A host broker dies mid-forward and comes back on its data directory.
      await delay(300);
      await hosts[1].broker.kill();
      // Its publisher lost its broker: what it had acknowledged is in the journal, which is what is compared.
      first[1].child.kill("SIGKILL");
      await restartHost(hosts[1]);
      publish(hosts[1], 500);

      // The central dies mid-ingest and comes back on its data directory (its position is JetStream's durable consumer).
      await delay(300);
      await central.kill();
      await restartCentral();
      // What is compared is what each host journaled, not what the publishers sent: publishing stops here.
      await delay(1000);
      for (const fixture of publishers) fixture.child.kill("SIGKILL");
      await within(Promise.all(publishers.map((fixture) => fixture.exited)), 10_000, () => "publishers to exit");
      await quiesce(30_000);

      const stream = await within(streamEvents(nats.url), 15_000, () => "reading the stream");
      const centralEvents = await journalEvents(centralDataDir);
      for (const host of hosts) {
        const journaled = (await journalEvents(host.dataDir)).map((event) => Number(event.event_id));
        expect(journaled.length, `${host.id} journaled events`).toBeGreaterThan(500);
        const inStream = stream.filter((message) => message.host === host.id).map((message) => message.id);
        expect(inStream.length, `${host.id}: messages in the stream`).toBe(journaled.length);
        expect(new Set(inStream), `${host.id}: the stream's ids`).toEqual(new Set(journaled));
        const onCentral = centralEvents.filter((event) => event.host_id === host.id).map((event) => Number(event.origin_event_id));
        expect(onCentral.length, `${host.id}: events on the central`).toBe(journaled.length);
        expect(new Set(onCentral), `${host.id}: the central's origin ids`).toEqual(new Set(journaled));
      }
      const restarted = (await hosts[1].client.service.getStats({})).forward;
      expect(restarted?.eventsLost).toBe(0n);
    }, 90_000);

    it("should rebuild a new central broker from the stream alone (an empty data directory, a consumer of its own)", async () => {
      const rebuilt = await startBrokerProcess(["--host-id", `rebuilt-${run}`, "--ingest", nats.url, "--ingest-consumer", `rebuilt-${run}`]);
      const client = createCorrelationClient({ socketPath: rebuilt.socketPath, sourceProcess: "fleet-test" });
      try {
        const expected = await journalEvents(centralDataDir);
        const deadline = Date.now() + 30_000;
        let stored = 0n;
        while (stored < BigInt(expected.length) && Date.now() < deadline) {
          stored = (await client.service.getStats({})).ingest?.stored ?? 0n;
          await delay(200);
        }
        const key = (event: Record<string, unknown>) => `${event.host_id}/${event.origin_event_id}`;
        const rebuiltEvents = await journalEvents(join(rebuilt.directory, "data"));
        expect(rebuiltEvents.length, "events on the rebuilt central").toBe(expected.length);
        expect(new Set(rebuiltEvents.map(key))).toEqual(new Set(expected.map(key)));
        // Its queries answer as the first central's do.
        const tags = { investigation_id: investigation };
        const first = await centralClient.findByTag({ tags, limit: 1000 });
        const second = await client.findByTag({ tags, limit: 1000 });
        expect(first.events.length).toBeGreaterThan(0);
        expect(first.events.length).toBeLessThan(1000);
        expect(second.events.map((event) => `${event.hostId}/${event.originEventId}`).sort()).toEqual(
          first.events.map((event) => `${event.hostId}/${event.originEventId}`).sort(),
        );
      } finally {
        client.close();
        await rebuilt.stop();
      }
    }, 60_000);
  });
});

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
