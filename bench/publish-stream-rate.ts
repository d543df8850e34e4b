import type { BenchConfig } from "./bench-config.js";
import { idSpace } from "./bench-workload.js";
import type { FigureSet } from "./figure-set.js";
import { type WorkerProcess, expectMessage, spawnWorker } from "./worker-process.js";

/**
 * PublishStream sustained rate from `collectors` processes at once: each
 * streams its share of `streamEvents` tagged events in batches, pipelined,
 * after its own warm-up. The aggregate is every acked event over the union of
 * their run times (earliest start to latest last ack).
 */
export async function measurePublishStream(socketPath: string, collectors: number, config: BenchConfig, figures: FigureSet): Promise<void> {
  const share = Math.ceil(config.streamEvents / collectors);
  const workers: WorkerProcess[] = [];
  try {
    for (let index = 0; index < collectors; index++) {
      workers.push(
        spawnWorker("workers/stream-publisher.js", [
          "--socket", socketPath,
          "--count", String(share),
          "--batch", String(config.streamBatch),
          "--space", String(idSpace.tagged + 0x100 * collectors + index + 1),
          "--name", `bench-collector-${collectors}-${index}`,
          "--topic", "events.bench.stream.observed",
          "--warmup", String(config.streamWarmupEvents),
          "--go",
        ]),
      );
    }
    await Promise.all(workers.map((worker) => expectMessage(worker, "ready", config.phaseTimeoutMs)));
    for (const worker of workers) worker.send("go");
    const results = await Promise.all(workers.map((worker) => expectMessage(worker, "done", config.phaseTimeoutMs)));
    const startMs = Math.min(...results.map((result) => result.startMs as number));
    const endMs = Math.max(...results.map((result) => result.endMs as number));
    const acked = results.reduce((sum, result) => sum + (result.acked as number), 0);
    const id = `stream.collectors${collectors}`;
    figures.set(`${id}.rate`, (acked / (endMs - startMs)) * 1000, "events/s", `PublishStream from ${collectors} collector(s), aggregate`);
    figures.set(`${id}.events`, acked, "events", `PublishStream from ${collectors} collector(s), events acked`);
    figures.set(`${id}.elapsed`, endMs - startMs, "ms", `PublishStream from ${collectors} collector(s), union of run times`);
    const rates = results.map((result) => ((result.acked as number) / ((result.endMs as number) - (result.startMs as number))) * 1000);
    figures.set(`${id}.slowest`, Math.min(...rates), "events/s", `PublishStream from ${collectors} collector(s), slowest collector's own rate`);
    if (acked !== share * collectors) figures.notes.push(`PublishStream ${collectors}: ${acked} of ${share * collectors} events acked`);
  } finally {
    await Promise.all(workers.map((worker) => worker.stop()));
  }
}
