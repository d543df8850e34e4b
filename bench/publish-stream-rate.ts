import type { BenchConfig } from "./bench-config.js";
import { idSpace } from "./bench-workload.js";
import type { FigureSet } from "./figure-set.js";
import { type WorkerProcess, expectMessage, spawnWorker } from "./worker-process.js";

/** Overrides for one PublishStream measurement; the defaults are the PublishStream rows'. */
export interface StreamRun {
  /** Prefix of the figures' ids (default `stream.collectors<n>`). */
  id?: string;
  /** Events streamed in all (default config.streamEvents). */
  events?: number;
  /** Warm-up events per collector (default config.streamWarmupEvents). */
  warmupEvents?: number;
  /** Start of the figures' labels (default `PublishStream from <n> collector(s)`). */
  label?: string;
  /** Runs once every collector is warm, just before they start. */
  beforeGo?: () => Promise<void>;
}

/**
 * PublishStream sustained rate from `collectors` processes at once: each
 * streams its share of `streamEvents` tagged events in batches, pipelined,
 * after its own warm-up. The aggregate is every acked event over the union of
 * their run times (earliest start to latest last ack). `run` changes the
 * figures' ids, the counts, and what happens once every collector is warm
 * (the durability phase reads the journal's counters there).
 */
export async function measurePublishStream(
  socketPath: string,
  collectors: number,
  config: BenchConfig,
  figures: FigureSet,
  run: StreamRun = {},
): Promise<void> {
  const events = run.events ?? config.streamEvents;
  const share = Math.ceil(events / collectors);
  const workers: WorkerProcess[] = [];
  try {
    for (let index = 0; index < collectors; index++) {
      workers.push(
        spawnWorker("workers/stream-publisher.js", [
          "--socket",
          socketPath,
          "--count",
          String(share),
          "--batch",
          String(config.streamBatch),
          "--space",
          String(idSpace.tagged + 0x100 * collectors + index + 1),
          "--name",
          `bench-collector-${collectors}-${index}`,
          "--topic",
          "events.bench.stream.observed",
          "--warmup",
          String(run.warmupEvents ?? config.streamWarmupEvents),
          "--go",
        ]),
      );
    }
    await Promise.all(workers.map((worker) => expectMessage(worker, "ready", config.phaseTimeoutMs)));
    await run.beforeGo?.();
    for (const worker of workers) worker.send("go");
    const results = await Promise.all(workers.map((worker) => expectMessage(worker, "done", config.phaseTimeoutMs)));
    const startMs = Math.min(...results.map((result) => result.startMs as number));
    const endMs = Math.max(...results.map((result) => result.endMs as number));
    const acked = results.reduce((sum, result) => sum + (result.acked as number), 0);
    const id = run.id ?? `stream.collectors${collectors}`;
    const label = run.label ?? `PublishStream from ${collectors} collector(s)`;
    figures.set(`${id}.rate`, (acked / (endMs - startMs)) * 1000, "events/s", `${label}, aggregate`);
    figures.set(`${id}.events`, acked, "events", `${label}, events acked`);
    figures.set(`${id}.elapsed`, endMs - startMs, "ms", `${label}, union of run times`);
    const rates = results.map((result) => ((result.acked as number) / ((result.endMs as number) - (result.startMs as number))) * 1000);
    figures.set(`${id}.slowest`, Math.min(...rates), "events/s", `${label}, slowest collector's own rate`);
    if (acked !== share * collectors) figures.notes.push(`${label}: ${acked} of ${share * collectors} events acked`);
  } finally {
    await Promise.all(workers.map((worker) => worker.stop()));
  }
}
