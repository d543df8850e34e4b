import { type CorrelationClient, createCorrelationClient } from "../src/index.js";
import type { BenchConfig } from "./bench-config.js";
import { benchPayload, publishCorrelation, publishTopic } from "./bench-workload.js";
import { timeSequential } from "./call-timing.js";
import type { FigureSet } from "./figure-set.js";
import { timeInterleaved } from "./interleaved-latency.js";
import { summarize } from "./percentiles.js";
import { measurePublishStream } from "./publish-stream-rate.js";

/** A journal fsync policy (`corrbus serve --fsync`). */
export type FsyncPolicy = BenchConfig["fsyncPolicies"][number];

/** The journal's counters from GetStats. */
interface JournalCounters {
  records: number;
  writes: number;
  fsyncs: number;
}

/**
 * Long enough for `--fsync batch`'s timer (an fsync at most 5 ms after a
 * write) to have run before the counters are read after a measurement.
 */
const settleMs = 50;

/**
 * Sequential Publish with correlation metadata (the metadata of the Publish
 * rows) against one broker per fsync policy, each with its own data
 * directory. The brokers take turns block by block (A B C A B C …) after a
 * warm-up of each, so drift of the machine touches every policy alike and the
 * ratios between them hold within the run. The journal counters read before
 * and after the measured calls give records per write and per fsync.
 */
export async function measureDurabilityPublish(sockets: ReadonlyMap<FsyncPolicy, string>, config: BenchConfig, figures: FigureSet): Promise<void> {
  const clients = new Map<FsyncPolicy, CorrelationClient>();
  try {
    for (const [policy, socketPath] of sockets) clients.set(policy, createCorrelationClient({ socketPath, sourceProcess: "bench-publisher" }));
    const series: Record<string, () => Promise<unknown>> = {};
    const before = new Map<FsyncPolicy, JournalCounters>();
    for (const [policy, client] of clients) {
      const { root, child } = publishCorrelation(client.sourceProcess);
      // The root first, so the child's parent is known (not an orphan).
      await client.publish("events.bench.publish.task", benchPayload, { correlation: root });
      series[policy] = () => client.publish(publishTopic, benchPayload, { correlation: child });
      await timeSequential(config.durabilityWarmupCalls, series[policy]);
    }
    await delay(settleMs);
    for (const [policy, client] of clients) before.set(policy, await journalCounters(client));
    const results = await timeInterleaved(series, { warmup: 0, callsPerSeries: config.durabilityCalls, blocks: config.durabilityBlocks });
    await delay(settleMs);
    for (const [policy, client] of clients) {
      const result = results[policy];
      const id = `durability.${policy}.publish`;
      const label = `Publish sequential with metadata, --fsync ${policy}`;
      figures.setLatency(id, summarize(result.samples), label, (result.samples.length / result.elapsedMs) * 1000);
      setJournalFigures(figures, `${id}.journal`, label, before.get(policy) as JournalCounters, await journalCounters(client));
    }
  } finally {
    for (const client of clients.values()) client.close();
  }
}

/**
 * PublishStream sustained rate from one collector process (batches of
 * config.streamBatch, pipelined) into the broker of one fsync policy, with
 * the journal counters read once the collector is warm and after its last ack.
 */
export async function measureDurabilityStream(policy: FsyncPolicy, socketPath: string, config: BenchConfig, figures: FigureSet): Promise<void> {
  const client = createCorrelationClient({ socketPath, sourceProcess: "bench-analyst" });
  const id = `durability.${policy}.stream`;
  const label = `PublishStream from 1 collector, --fsync ${policy}`;
  let before: JournalCounters | undefined;
  try {
    await measurePublishStream(socketPath, 1, config, figures, {
      id,
      label,
      events: config.durabilityStreamEvents,
      warmupEvents: config.durabilityStreamWarmupEvents,
      beforeGo: async () => {
        await delay(settleMs);
        before = await journalCounters(client);
      },
    });
    await delay(settleMs);
    if (before !== undefined) setJournalFigures(figures, `${id}.journal`, label, before, await journalCounters(client));
  } finally {
    client.close();
  }
}

async function journalCounters(client: CorrelationClient): Promise<JournalCounters> {
  const { journal } = await client.service.getStats({});
  if (journal === undefined) throw new Error("GetStats reports no journal: the broker keeps its history in memory only");
  return { records: Number(journal.recordsAppended), writes: Number(journal.writes), fsyncs: Number(journal.fsyncs) };
}

/** The counters' growth over one measurement, and records per write and per fsync (group commit shows as more than 1). */
function setJournalFigures(figures: FigureSet, id: string, label: string, before: JournalCounters, after: JournalCounters): void {
  const records = after.records - before.records;
  const writes = after.writes - before.writes;
  const fsyncs = after.fsyncs - before.fsyncs;
  figures.set(`${id}.records`, records, "records", `${label}: journal records appended`);
  figures.set(`${id}.writes`, writes, "writes", `${label}: journal write calls`);
  figures.set(`${id}.fsyncs`, fsyncs, "fsyncs", `${label}: journal fsyncs`);
  if (writes > 0) figures.set(`${id}.recordsPerWrite`, records / writes, "records/write", `${label}: journal records per write call`);
  if (fsyncs > 0) figures.set(`${id}.recordsPerFsync`, records / fsyncs, "records/fsync", `${label}: journal records per fsync`);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
