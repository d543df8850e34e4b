// The fleet on a three-node JetStream cluster (issue 16): three nats-servers
// on loopback form a cluster, the forwarder creates the stream with three
// replicas, and one node is SIGKILLed while a host publishes and forwards.
// Forwarding goes on through the others, and the stream and the central
// broker end with every event the host journaled, once.
import { createServer } from "node:net";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CorrelationClient, createCorrelationClient } from "../../src/index.js";
import { type BrokerProcess, startBrokerProcess } from "../helpers/broker-process.js";
import { type FixtureProcess, spawnFixture } from "../helpers/fixture-process.js";
import { journalEvents, streamMessageCount, within } from "../helpers/fleet-checks.js";
import { type NatsServerProcess, natsServerVersion, startNatsServer } from "../helpers/nats-server.js";

const hasNatsServer = natsServerVersion() !== undefined;
const inCi = process.env.CI === "true";
if (!hasNatsServer && !inCi) console.warn("fleet-cluster.test: skipped, nats-server not found (apt-get install nats-server)");

/** A free loopback port (the cluster's routes must be known before its servers start). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

describe.skipIf(!hasNatsServer && !inCi)("the fleet on a three-node JetStream cluster", () => {
  const nodes: NatsServerProcess[] = [];
  let urls: string[];
  let host: BrokerProcess;
  let central: BrokerProcess;
  let hostClient: CorrelationClient;
  let centralClient: CorrelationClient;

  beforeAll(async () => {
    if (!hasNatsServer) throw new Error("nats-server not found, and CI=true needs it: apt-get install nats-server");
    const clientPorts = [await freePort(), await freePort(), await freePort()];
    const routePorts = [await freePort(), await freePort(), await freePort()];
    const routes = routePorts.map((port) => `nats-route://127.0.0.1:${port}`).join(", ");
    const started = clientPorts.map((port, index) =>
      startNatsServer({
        port,
        config: `server_name: n${index + 1}\ncluster {\n  name: corrbus-test\n  listen: 127.0.0.1:${routePorts[index]}\n  routes: [${routes}]\n}\n`,
      }),
    );
    for (const node of await Promise.all(started)) nodes.push(node as NatsServerProcess);
    urls = nodes.map((node) => node.url);
    const servers = urls.join(",");
    host = await startBrokerProcess(["--host-id", "cluster-host", "--forward", servers, "--stream-replicas", "3"]);
    central = await startBrokerProcess(["--host-id", "cluster-central", "--ingest", servers, "--stream-replicas", "3"]);
    hostClient = createCorrelationClient({ socketPath: host.socketPath, sourceProcess: "fleet-cluster-test" });
    centralClient = createCorrelationClient({ socketPath: central.socketPath, sourceProcess: "fleet-cluster-test" });
  }, 60_000);

  afterAll(async () => {
    hostClient?.close();
    centralClient?.close();
    await host?.stop();
    await central?.stop();
    for (const node of nodes) await node.stop();
  });

  it("should forward and ingest every event once while one node is killed under load", async () => {
    const publishers: FixtureProcess[] = [];
    const publish = () => {
      const fixture = spawnFixture("stream-publisher", ["--socket", host.socketPath, "--count", "3000", "--per-tick", "10", "--tick-ms", "10"]);
      publishers.push(fixture);
    };
    publish();
    // Forwarding has begun before the node goes.
    await within(
      (async () => {
        while (((await hostClient.service.getStats({})).forward?.acked ?? 0n) < 100n) await delay(100);
      })(),
      30_000,
      () => "the first 100 acknowledgements (the cluster's stream created)",
    );
    const nc = await connect({ servers: urls });
    try {
      expect((await (await jetstreamManager(nc)).streams.info("CORRBUS")).config.num_replicas, "the stream's replicas").toBe(3);
    } finally {
      await nc.close();
    }
    await nodes[0].kill();
    await delay(1500);
    for (const fixture of publishers) fixture.child.kill("SIGKILL");
    await Promise.all(publishers.map((fixture) => fixture.exited));

    const deadline = Date.now() + 40_000;
    let state = "";
    for (;;) {
      const forward = (await hostClient.service.getStats({})).forward;
      const stored = (await hostClient.service.getStats({})).eventsStored;
      const ingested = (await centralClient.service.getStats({})).ingest?.hostLags.find((lag) => lag.hostId === "cluster-host")?.events ?? 0n;
      state = `stored ${stored}, forward lag ${forward?.lagEvents}, ingested ${ingested}, reconnects ${forward?.reconnects}`;
      if (forward?.lagEvents === 0n && forward.inFlight === 0 && ingested === stored) break;
      if (Date.now() > deadline) throw new Error(`not caught up in 40 s: ${state}`);
      await delay(250);
    }

    const journaled = (await journalEvents(join(host.directory, "data"))).map((event) => Number(event.event_id));
    expect(journaled.length).toBeGreaterThan(200);
    // The stream's count (its ids are the central's, compared below): an ordered consumer to read it whole timed out
    // being created, four tries in a row, on a cluster that had just lost a node.
    const inStream = await within(streamMessageCount(urls.slice(1)), 30_000, () => "the stream's count from the nodes left");
    expect(inStream, "messages in the stream").toBe(journaled.length);
    const onCentral = (await journalEvents(join(central.directory, "data"))).map((event) => Number(event.origin_event_id));
    expect(onCentral.length, "events on the central").toBe(journaled.length);
    expect(new Set(onCentral)).toEqual(new Set(journaled));
    expect((await hostClient.service.getStats({})).forward?.eventsLost).toBe(0n);
  }, 90_000);
});

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
