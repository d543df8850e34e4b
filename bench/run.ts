// `npm run bench`: every figure of docs/performance.md, measured against the broker
// running as its own process, issue 15's targets against nats-server measured
// in the same run, and the fleet's figures (issue 16), printed as three tables
// and written to bench/results.json and docs/performance.md. `--quick` runs a
// reduced smoke pass of the harness and `--only fleet` only the fleet phases;
// both write their figures to the temp directory only (see usage below).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { type BrokerProcess, repoRoot, startBrokerProcess } from "../test/helpers/broker-process.js";
import { fullConfig, quickConfig } from "./bench-config.js";
import { nowMs } from "./call-timing.js";
import { FigureSet } from "./figure-set.js";
import { measureForwardCatchUp } from "./fleet-catch-up.js";
import { forwardedStream, measureForwardRate } from "./fleet-forward-rate.js";
import { measureFleetFind } from "./fleet-find-latency.js";
import { measureIngestRate } from "./fleet-ingest-rate.js";
import { measureForwardPublishLatency } from "./fleet-publish-latency.js";
import { buildFleetRows } from "./fleet-table.js";
import { type FsyncPolicy, measureDurabilityPublish, measureDurabilityStream } from "./durability-policies.js";
import { measureInBroker } from "./in-broker-latency.js";
import { measureMemory } from "./memory-footprint.js";
import { natsClientVersion } from "./nats-client-version.js";
import { measureNatsFanout } from "./nats-fanout-rate.js";
import { measureNatsJetStreamRates } from "./nats-jetstream-rate.js";
import { measureNatsPublishLatency } from "./nats-publish-latency.js";
import { type NatsServerProcess, startNatsServer } from "../test/helpers/nats-server.js";
import { writePerformanceDoc } from "./performance-doc.js";
import { measurePublishInFlight } from "./publish-in-flight.js";
import { measurePublishStream } from "./publish-stream-rate.js";
import { measureQueries } from "./query-latency.js";
import { buildRows, buildTargetRows, renderTable, targetHeader } from "./results-table.js";
import { measureSequentialLatency } from "./sequential-latency.js";
import { measureStartupReplay } from "./startup-replay.js";
import { measureSubscribe } from "./subscribe-rate.js";
import { measureWaitWakeup } from "./wait-wakeup.js";

const usage = `usage: node dist/bench/run.js [--quick] [--only fleet]
  (none)        every phase; writes bench/results.json and docs/performance.md
  --quick       every phase with reduced counts (a smoke run of the harness)
  --only fleet  only the fleet phases (forwarding, central ingest, FindByTag on
                the central; they need nats-server)
--quick and --only write their figures to the temp directory, never to docs/.
`;
const onlyIndex = process.argv.indexOf("--only");
const only = onlyIndex < 0 ? undefined : process.argv[onlyIndex + 1];
if (process.argv.includes("--help") || (onlyIndex >= 0 && only !== "fleet")) {
  process.stdout.write(usage);
  process.exit(process.argv.includes("--help") ? 0 : 2);
}
/** False with `--only fleet`: only the fleet phases run. */
const runAll = only === undefined;
const config = process.argv.includes("--quick") ? quickConfig : fullConfig;
const figures = new FigureSet();
const startedAt = new Date();
const started = nowMs();
const loadBefore = loadavg();

/** Room for the largest history the figures build, so nothing is evicted mid-measurement. */
const historyArgs = ["--history-size", "2000000", "--history-bytes", String(2 ** 31)];
/** Subscribers are never cut off for lagging behind a publisher burst: delivery rate is the figure. */
const subscriberArgs = ["--subscriber-queue", "2000000"];
// startBrokerProcess asks for debug logs; the last --log-level wins.
const quietArgs = ["--log-level", "info"];
const brokerArgs = {
  publishAndDelivery: [...subscriberArgs, ...historyArgs, ...quietArgs],
  queries: [...historyArgs, ...quietArgs],
  /** Each durability broker adds its own `--fsync always|batch|never`. */
  durability: [...historyArgs, ...quietArgs],
  /** The fleet's host brokers add `--host-id` and, forwarding, `--forward` and the stream. */
  fleetHost: [...historyArgs, ...quietArgs],
  /** Room for the simulated fleet's 1 M events; each central adds `--ingest` and its stream. */
  central: [...historyArgs, ...quietArgs],
};

const progress = (text: string) => process.stderr.write(`[bench ${((nowMs() - started) / 1000).toFixed(1).padStart(6)} s] ${text}\n`);

async function phase(name: string, run: () => Promise<void>): Promise<void> {
  const start = nowMs();
  progress(`${name}…`);
  try {
    await run();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    figures.failures.push({ phase: name, error: message });
    progress(`${name} FAILED: ${message}`);
  }
  figures.set(`phase.${name}.seconds`, (nowMs() - start) / 1000, "s", `duration of the ${name} phase`);
}

/** How each broker of the run kept its history, from its log: "journal (fsync …)" or "memory". */
const brokerStorage: string[] = [];

/** A broker process of the run with the temporary data directory its journal lives in. */
interface BenchBroker {
  broker: BrokerProcess;
  dataDirectory: string;
  args: string[];
}

/**
 * Starts a broker with `args` and a fresh temporary data directory, passed as
 * --data-dir, so a journal (default durability) never lands in the user's
 * state directory and never replays a previous run. A failed start is
 * reported and answers undefined.
 */
async function startBenchBroker(args: string[]): Promise<BenchBroker | undefined> {
  const dataDirectory = mkdtempSync(join(tmpdir(), "corrbus-bench-data-"));
  try {
    return { broker: await startBrokerProcess([...args, "--data-dir", dataDirectory]), dataDirectory, args };
  } catch (error) {
    figures.failures.push({ phase: `broker start (${args.join(" ")})`, error: error instanceof Error ? error.message : String(error) });
    rmSync(dataDirectory, { recursive: true, force: true });
    return undefined;
  }
}

/**
 * SIGTERM, then what its log says (errors, evictions…) into the notes; then
 * `afterStop` (which may start another broker on the same data directory);
 * then the data directory is removed.
 */
async function stopBenchBroker(
  { broker, dataDirectory, args }: BenchBroker,
  afterStop?: (dataDirectory: string, stopped: BrokerProcess) => Promise<void>,
): Promise<void> {
  try {
    const code = await broker.stop();
    const journal = broker.logs.find((line) => line.msg === "journal replayed");
    brokerStorage.push(journal === undefined ? "memory" : `journal (fsync ${journal.fsync})`);
    const errors = broker.logs.filter((line) => line.level === "error" || line.level === "warn" || "raw" in line);
    if (code !== 0) figures.notes.push(`broker exited with ${code}`);
    for (const line of errors.slice(0, 5)) figures.notes.push(`broker log: ${JSON.stringify(line).slice(0, 300)}`);
    // Evictions or refusals during a run would mean a figure measured something else than it says.
    const stats = stoppedStats(broker);
    for (const key of ["eventsEvicted", "publishesRejected", "subscribersCutOff", "eventsDropped", "lineageRejected"]) {
      if ((stats?.[key] ?? 0) > 0) figures.notes.push(`broker (${args.join(" ")}) counted ${key} = ${stats?.[key]}`);
    }
    await afterStop?.(dataDirectory, broker);
  } finally {
    rmSync(dataDirectory, { recursive: true, force: true });
  }
}

/** The counters a stopped broker logged with its "stopped" line. */
function stoppedStats(broker: BrokerProcess): Record<string, number> | undefined {
  return broker.logs.find((line) => line.msg === "stopped")?.stats as Record<string, number> | undefined;
}

async function withBroker(
  args: string[],
  run: (broker: BrokerProcess) => Promise<void>,
  afterStop?: (dataDirectory: string, stopped: BrokerProcess) => Promise<void>,
): Promise<void> {
  const started = await startBenchBroker(args);
  if (started === undefined) return;
  try {
    await run(started.broker);
  } finally {
    await stopBenchBroker(started, afterStop);
  }
}

/**
 * nats-server (JetStream, file storage in a temporary directory) runs beside
 * the first broker; its rows follow their corrbus counterparts. Missing, it
 * is reported and only the NATS rows are skipped.
 */
let nats: NatsServerProcess | undefined;
let natsSkipped: string | undefined;
try {
  nats = await startNatsServer();
  if (nats === undefined) natsSkipped = "nats-server not found";
} catch (error) {
  natsSkipped = "nats-server did not start";
  figures.failures.push({ phase: "nats-server start", error: error instanceof Error ? error.message : String(error) });
}
if (natsSkipped !== undefined) figures.notes.push(`NATS rows skipped: ${natsSkipped} (scripts/prepare-bench.sh installs it)`);
const natsVersions = nats === undefined ? undefined : { server: nats.version, client: natsClientVersion() };

/** Runs a NATS phase when nats-server is up. */
async function natsPhase(name: string, run: (url: string) => Promise<void>): Promise<void> {
  if (nats !== undefined) await phase(name, () => run(nats.url));
}

try {
  if (runAll) await publishAndDeliveryPhases();
} finally {
  const code = await nats?.stop();
  if (nats !== undefined && code !== 0) figures.notes.push(`nats-server exited with ${code}: ${nats.logs.slice(-3).join(" | ")}`);
}
if (runAll) {
  await durabilityPhases();
  await withBroker(
    brokerArgs.queries,
    (broker) => phase("queries", () => measureQueries(broker.socketPath, config, figures)),
    // Its journal (the ~1 M events the queries loaded) outlives it: a new broker replays it.
    (dataDirectory, stopped) =>
      phase("replay", () => measureStartupReplay(dataDirectory, brokerArgs.queries, stoppedStats(stopped)?.eventsStored, config, figures)),
  );
}
if (natsSkipped === undefined) await fleetPhases();
else figures.notes.push(`fleet rows skipped: ${natsSkipped}`);
if (runAll) {
  await phase("inBroker", () => measureInBroker(config, figures));
  await phase("memory", () => measureMemory(config, figures));
}

async function publishAndDeliveryPhases(): Promise<void> {
  await withBroker(brokerArgs.publishAndDelivery, async (broker) => {
    // Floor and Publish interleaved block by block, so their ratios see the same machine state.
    await phase("sequential", () => measureSequentialLatency(broker.socketPath, config, figures));
    // corrbus Publish and JetStream js.publish take turns block by block.
    await natsPhase("natsPublish", (url) => measureNatsPublishLatency(broker.socketPath, url, config, figures));
    await phase("inFlight", () => measurePublishInFlight(broker.socketPath, config, figures));
    await phase("wait", () => measureWaitWakeup(broker.socketPath, config, figures));
    for (const collectors of config.collectorCounts) {
      await phase(`stream${collectors}`, () => measurePublishStream(broker.socketPath, collectors, config, figures));
    }
    await natsPhase("natsJetStream", (url) => measureNatsJetStreamRates(url, config, figures));
    for (const subscribers of config.subscriberCounts) {
      await phase(`subscribe${subscribers}`, () => measureSubscribe(broker.socketPath, subscribers, config, figures));
      await natsPhase(`natsFanout${subscribers}`, (url) => measureNatsFanout(url, subscribers, config, figures));
    }
  });
}

/** One broker per fsync policy, each with its own data directory, all running at once so their sequential Publish series can take turns block by block. */
async function durabilityPhases(): Promise<void> {
  const durabilityBrokers = new Map<FsyncPolicy, BenchBroker>();
  for (const policy of config.fsyncPolicies) {
    const started = await startBenchBroker([...brokerArgs.durability, "--fsync", policy]);
    if (started !== undefined) durabilityBrokers.set(policy, started);
  }
  try {
    if (durabilityBrokers.size > 0) {
      const sockets = new Map([...durabilityBrokers].map(([policy, started]) => [policy, started.broker.socketPath]));
      await phase("durabilityPublish", () => measureDurabilityPublish(sockets, config, figures));
    }
    for (const [policy, started] of durabilityBrokers) {
      await phase(`durabilityStream.${policy}`, () => measureDurabilityStream(policy, started.broker.socketPath, config, figures));
    }
  } finally {
    for (const started of durabilityBrokers.values()) await stopBenchBroker(started);
  }
}

/**
 * The fleet's figures against a nats-server of their own (a fresh JetStream
 * store): two host brokers, one forwarding (`--forward`) and one not, for the
 * Publish cost and the forwarding rate; the one not forwarding is restarted
 * with `--forward` on its data directory (catch-up); a central broker ingests
 * what they forwarded; then the simulated hosts' stream and FindByTag on a
 * central holding it.
 */
async function fleetPhases(): Promise<void> {
  let fleetNats: NatsServerProcess | undefined;
  try {
    fleetNats = await startNatsServer();
  } catch (error) {
    figures.failures.push({ phase: "nats-server start (fleet)", error: error instanceof Error ? error.message : String(error) });
  }
  if (fleetNats === undefined) return;
  const url = fleetNats.url;
  try {
    const stream = ["--stream", forwardedStream.stream, "--subject-prefix", forwardedStream.subjectPrefix];
    const forwarding = await startBenchBroker([...brokerArgs.fleetHost, "--host-id", "bench-forwarding", "--forward", url, ...stream]);
    const plain = await startBenchBroker([...brokerArgs.fleetHost, "--host-id", "bench-not-forwarding"]);
    try {
      if (forwarding !== undefined && plain !== undefined) {
        const [on, off] = [forwarding.broker.socketPath, plain.broker.socketPath];
        await phase("fleetPublish", () => measureForwardPublishLatency(on, off, config, figures));
        await phase("fleetForward", () => measureForwardRate(on, off, config, figures));
      }
    } finally {
      if (forwarding !== undefined) await stopBenchBroker(forwarding);
      if (plain !== undefined) {
        await stopBenchBroker(plain, (dataDirectory) =>
          phase("fleetCatchUp", () => measureForwardCatchUp(dataDirectory, [...plain.args, "--forward", url, ...stream], config, figures)),
        );
      }
    }
    await phase("fleetIngest", () =>
      measureIngestRate(
        url,
        { stream: forwardedStream, args: brokerArgs.central, id: "fleet.ingest", label: "central ingest of the forwarded stream" },
        config,
        figures,
      ),
    );
    await phase("fleetFind", () => measureFleetFind(url, brokerArgs.central, config, figures));
  } finally {
    const code = await fleetNats.stop();
    if (code !== 0) figures.notes.push(`nats-server (fleet) exited with ${code}: ${fleetNats.logs.slice(-3).join(" | ")}`);
  }
}

const durationSeconds = (nowMs() - started) / 1000;
const rows = buildRows(figures, config);
const table = renderTable(rows);
const targetRows = buildTargetRows(figures, config, natsSkipped);
const natsHeading =
  natsVersions === undefined
    ? `Targets of issue 15, same run (NATS rows skipped: ${natsSkipped}).`
    : `Targets of issue 15, same run: corrbus against nats-server ${natsVersions.server} (JetStream, file storage in a temporary directory, ` +
      `its defaults otherwise) driven by nats.js ${natsVersions.client} (@nats-io/transport-node, @nats-io/jetstream), each from processes of its own.`;
const targetTable = `${natsHeading}\n\n${renderTable(targetRows, targetHeader)}`;
const fleetRows = buildFleetRows(figures, config, natsSkipped);
const fleetHeading =
  natsVersions === undefined
    ? `Fleet (issue 16), same run (rows skipped: ${natsSkipped}).`
    : `Fleet (issue 16), same run: host and central brokers (serve --forward / --ingest) on a nats-server ${natsVersions.server} of their own ` +
      "(JetStream, file storage in a temporary directory), each broker its own process.";
const fleetTable = `${fleetHeading}\n\n${renderTable(fleetRows)}`;
const machine = {
  cpus: cpus().length,
  cpuModel: cpus()[0]?.model ?? "unknown",
  totalMemoryMB: Math.round(totalmem() / 2 ** 20),
  platform: `${process.platform} ${release()}`,
  node: process.version,
  loadAverageBefore: loadBefore.map((value) => Number(value.toFixed(2))),
  loadAverageAfter: loadavg().map((value) => Number(value.toFixed(2))),
};
const heading =
  `Run of ${startedAt.toISOString()} on ${machine.cpus} × ${machine.cpuModel}, Node ${machine.node}, ` +
  `load average ${machine.loadAverageBefore[0]} → ${machine.loadAverageAfter[0]}; broker history: ${brokerStorage.join(", ")} ` +
  `(in a temporary data directory); took ${durationSeconds.toFixed(0)} s` +
  (config.quick ? " (--quick: reduced counts, not comparable)" : "") +
  (runAll ? "" : ` (--only ${only}: only those phases)`) +
  ".";
const remarks = [...figures.notes.map((note) => `- note: ${note}`), ...figures.failures.map((failure) => `- FAILED ${failure.phase}: ${failure.error}`)];

const results = {
  startedAt: startedAt.toISOString(),
  durationSeconds,
  machine,
  brokerArgs,
  brokerStorage,
  nats: natsVersions ?? { skipped: natsSkipped },
  config,
  figures: figures.all(),
  table: rows,
  targets: targetRows,
  fleet: fleetRows,
  notes: figures.notes,
  failures: figures.failures,
};
const tables = runAll ? `${table}\n\n${targetTable}\n\n${fleetTable}` : fleetTable;
const summary = `${heading}\n\n${tables}\n${remarks.length > 0 ? `\n${remarks.join("\n")}\n` : ""}`;
process.stdout.write(`\n${summary}`);
if (config.quick || !runAll) {
  // A smoke run's or a partial run's figures are not the page's: kept out of the repository.
  const path = join(tmpdir(), `corrbus-bench-${config.quick ? "quick" : "partial"}${runAll ? "" : `-${only}`}.json`);
  writeFileSync(path, `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`\nwrote ${path}\n`);
} else {
  writeFileSync(join(repoRoot, "bench", "results.json"), `${JSON.stringify(results, null, 2)}\n`);
  writePerformanceDoc(join(repoRoot, "docs", "performance.md"), summary);
  process.stdout.write("\nwrote bench/results.json and docs/performance.md\n");
}
process.stdout.write(`\nbench total: ${durationSeconds.toFixed(1)} s\n`);
process.exitCode = figures.failures.length > 0 ? 1 : 0;
