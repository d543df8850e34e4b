import { StorageType, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { ensureFleetStream } from "../src/fleet/fleet-stream.js";
import { createCorrelationClient } from "../src/index.js";
import type { BenchConfig } from "./bench-config.js";
import { matchingTags } from "./bench-workload.js";
import { timeSequential } from "./call-timing.js";
import type { FigureSet } from "./figure-set.js";
import { measureIngestRate } from "./fleet-ingest-rate.js";
import { simulatedHostId, simulatedMatches, simulatedStream } from "./fleet-simulated-hosts.js";
import { summarize } from "./percentiles.js";
import { type WorkerProcess, expectMessage, spawnWorker } from "./worker-process.js";

/** Publishes each filling process keeps awaiting their PubAck (as many as the NATS rows' async publisher keeps in flight). */
export const fillInFlight = 256;

/** The host the host-filtered query asks for. */
export const queriedHost = 0;

/**
 * FindByTag on a central broker holding the events of `fleetHosts` simulated
 * hosts (`fleetFindEvents` in all): `fleetFillProcesses` processes publish
 * into JetStream what those hosts' forwarders would (fleet-simulated-hosts.ts)
 * — timed as the fill rate — then a central broker ingests the stream (its
 * ingest rate, measureIngestRate) and answers, end-to-end through the TS
 * client's bus.findByTag, the investigation tag matching 1 % of the fleet's
 * events (a page of `findLimit`) and the same tag for one host (its
 * `findLimit` events), `fleetFindCalls` and `fleetFindHostCalls` times after a warm-up. The
 * stream is deleted afterwards (its files are the bulk of the run's disk use).
 */
export async function measureFleetFind(natsUrl: string, centralArgs: string[], config: BenchConfig, figures: FigureSet): Promise<void> {
  const eventsPerHost = Math.floor(config.fleetFindEvents / config.fleetHosts);
  const total = eventsPerHost * config.fleetHosts;
  const nc = await connect({ servers: natsUrl, name: "bench-fleet-admin" });
  const jsm = await jetstreamManager(nc);
  const workers: WorkerProcess[] = [];
  try {
    await ensureFleetStream(jsm, simulatedStream, StorageType.File);
    const hostsPerProcess = Math.ceil(config.fleetHosts / config.fleetFillProcesses);
    for (let first = 0; first < config.fleetHosts; first += hostsPerProcess) {
      workers.push(
        spawnWorker("workers/fleet-host-simulator.js", [
          "--server",
          natsUrl,
          "--first-host",
          String(first),
          "--hosts",
          String(Math.min(hostsPerProcess, config.fleetHosts - first)),
          "--events-per-host",
          String(eventsPerHost),
          "--in-flight",
          String(fillInFlight),
        ]),
      );
    }
    const results = await Promise.all(workers.map((worker) => expectMessage(worker, "done", config.phaseTimeoutMs)));
    const startMs = Math.min(...results.map((result) => result.startMs as number));
    const endMs = Math.max(...results.map((result) => result.endMs as number));
    const bytes = results.reduce((sum, result) => sum + (result.bytes as number), 0);
    const label = `${config.fleetHosts} simulated hosts' events into JetStream, ${workers.length} processes, ${fillInFlight} PubAcks awaited each`;
    figures.set("fleet.fill.rate", (total / (endMs - startMs)) * 1000, "events/s", `${label}: acked messages/s`);
    figures.set("fleet.fill.events", total, "events", `${label}: messages acked`);
    figures.set("fleet.fill.elapsed", endMs - startMs, "ms", `${label}: union of run times`);
    figures.set("fleet.fill.bytesPerEvent", bytes / total, "B", `${label}: mean message size (the journaled envelope)`);
    const stored = Number((await jsm.streams.info(simulatedStream.stream)).state.messages);
    if (stored !== total) figures.notes.push(`simulated hosts' stream holds ${stored} messages, not ${total}`);

    await measureIngestRate(
      natsUrl,
      {
        stream: simulatedStream,
        args: centralArgs,
        id: "fleet.hostsIngest",
        label: `central ingest of ${config.fleetHosts} simulated hosts' events`,
        whenStored: (socketPath) => timeFind(socketPath),
      },
      config,
      figures,
    );
  } finally {
    await Promise.all(workers.map((worker) => worker.stop()));
    await jsm.streams.delete(simulatedStream.stream).catch(() => false);
    await nc.close();
  }

  async function timeFind(socketPath: string): Promise<void> {
    const client = createCorrelationClient({ socketPath, sourceProcess: "bench-analyst" });
    try {
      const queries = {
        "fleet.find.all": {
          request: { tags: { ...matchingTags }, limit: config.findLimit },
          matches: simulatedMatches(config.fleetHosts, eventsPerHost),
          calls: config.fleetFindCalls,
        },
        "fleet.find.host": {
          request: { tags: { ...matchingTags }, hostId: simulatedHostId(queriedHost), limit: config.findLimit },
          matches: simulatedMatches(config.fleetHosts, eventsPerHost, queriedHost),
          calls: config.fleetFindHostCalls,
        },
      };
      for (const [id, query] of Object.entries(queries)) {
        let answered: { hostId: string }[] = [];
        const call = async () => {
          answered = (await client.findByTag(query.request)).events;
        };
        await timeSequential(Math.max(2, Math.min(100, query.calls / 5)), call);
        const samples = await timeSequential(query.calls, call);
        const what = `FindByTag ${config.findLimit} results on the central @${total} events from ${config.fleetHosts} hosts${id === "fleet.find.host" ? ", one host_id" : ""}, end-to-end`;
        figures.setLatency(`${id}.endToEnd`, summarize(samples), what);
        figures.set(`${id}.results`, answered.length, "events", `${what}: events answered`);
        figures.set(`${id}.matches`, query.matches, "events", `${what}: events the tags match`);
        const expected = Math.min(config.findLimit, query.matches);
        if (answered.length !== expected) figures.notes.push(`${what} answered ${answered.length} events, not ${expected}`);
        const hosts = new Set(answered.map((event) => event.hostId));
        if (id === "fleet.find.host" && (hosts.size !== 1 || !hosts.has(simulatedHostId(queriedHost)))) {
          figures.notes.push(`${what} answered events of hosts ${[...hosts].join(", ")}`);
        }
      }
      figures.set("fleet.find.stored", Number((await client.service.getStats({})).eventsStored), "events", "events in the central's history during FindByTag");
    } finally {
      client.close();
    }
  }
}
