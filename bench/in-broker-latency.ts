import type { BenchConfig } from "./bench-config.js";
import type { FigureSet } from "./figure-set.js";
import { expectMessage, spawnWorker } from "./worker-process.js";

/** Runs workers/in-broker.js and records its FindByTag, GetTimeline and wake-up latencies (µs). */
export async function measureInBroker(config: BenchConfig, figures: FigureSet): Promise<void> {
  const worker = spawnWorker("workers/in-broker.js", ["--config", JSON.stringify(config)]);
  try {
    await expectMessage(worker, "done", config.phaseTimeoutMs * 2);
    for (const message of worker.messages.filter((line) => line.type === "latency")) {
      const id = message.id as string;
      figures.setLatency(
        id,
        {
          count: message.count as number,
          p50: message.p50 as number,
          p99: message.p99 as number,
          mean: message.mean as number,
          min: message.min as number,
          max: message.max as number,
        },
        `${id} (in-broker)`,
      );
      figures.set(`${id}.results`, message.results as number, "events", `${id}: events answered`);
    }
    const loaded = worker.messages.filter((line) => line.type === "loaded");
    const events = loaded.reduce((sum, line) => sum + (line.events as number), 0);
    const ms = loaded.reduce((sum, line) => sum + (line.ms as number), 0);
    figures.set("inBroker.load.rate", (events / ms) * 1000, "events/s", "in-process publishBatch rate while loading (no transport)");
  } finally {
    await worker.stop();
  }
}
