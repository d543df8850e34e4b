// `npm run bench`: every figure of docs/performance.md, measured against the broker
// running as its own process, and issue 15's targets against nats-server
// measured in the same run, printed as two tables and written to
// bench/results.json and docs/performance.md. `--quick` runs a reduced smoke
// pass of the harness and writes its figures to the temp directory only.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { type BrokerProcess, repoRoot, startBrokerProcess } from "../test/helpers/broker-process.js";
import { fullConfig, quickConfig } from "./bench-config.js";
import { nowMs } from "./call-timing.js";
import { FigureSet } from "./figure-set.js";
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
} finally {
  const code = await nats?.stop();
  if (nats !== undefined && code !== 0) figures.notes.push(`nats-server exited with ${code}: ${nats.logs.slice(-3).join(" | ")}`);
}
// One broker per fsync policy, each with its own data directory, all running
// at once so their sequential Publish series can take turns block by block.
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
await withBroker(
  brokerArgs.queries,
  (broker) => phase("queries", () => measureQueries(broker.socketPath, config, figures)),
  // Its journal (the ~1 M events the queries loaded) outlives it: a new broker replays it.
  (dataDirectory, stopped) =>
    phase("replay", () => measureStartupReplay(dataDirectory, brokerArgs.queries, stoppedStats(stopped)?.eventsStored, config, figures)),
);
await phase("inBroker", () => measureInBroker(config, figures));
await phase("memory", () => measureMemory(config, figures));

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
  notes: figures.notes,
  failures: figures.failures,
};
const summary = `${heading}\n\n${table}\n\n${targetTable}\n${remarks.length > 0 ? `\n${remarks.join("\n")}\n` : ""}`;
process.stdout.write(`\n${summary}`);
if (config.quick) {
  // A smoke run's figures are not comparable: kept out of the repository.
  const path = join(tmpdir(), "corrbus-bench-quick.json");
  writeFileSync(path, `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`\nwrote ${path}\n`);
} else {
  writeFileSync(join(repoRoot, "bench", "results.json"), `${JSON.stringify(results, null, 2)}\n`);
  writePerformanceDoc(join(repoRoot, "docs", "performance.md"), summary);
  process.stdout.write("\nwrote bench/results.json and docs/performance.md\n");
}
process.stdout.write(`\nbench total: ${durationSeconds.toFixed(1)} s\n`);
process.exitCode = figures.failures.length > 0 ? 1 : 0;
