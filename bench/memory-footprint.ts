import type { BenchConfig } from "./bench-config.js";
import type { FigureSet } from "./figure-set.js";
import { expectMessage, spawnWorker } from "./worker-process.js";

/** Runs workers/memory-probe.js under --expose-gc and records heap + external growth per stored-event count. */
export async function measureMemory(config: BenchConfig, figures: FigureSet): Promise<void> {
  const worker = spawnWorker("workers/memory-probe.js", ["--sizes", config.memorySizes.join(","), "--batch", String(config.streamBatch)], ["--expose-gc"]);
  try {
    await expectMessage(worker, "done", config.phaseTimeoutMs);
    for (const message of worker.messages.filter((line) => line.type === "memory")) {
      const events = message.events as number;
      const id = `memory.events${events}`;
      figures.set(`${id}.total`, (message.totalBytes as number) / 1e6, "MB", `memory for ${events} events: heap + external growth`);
      figures.set(`${id}.heap`, (message.heapBytes as number) / 1e6, "MB", `memory for ${events} events: heap growth`);
      figures.set(`${id}.external`, (message.externalBytes as number) / 1e6, "MB", `memory for ${events} events: external growth (arrayBuffers included)`);
      figures.set(`${id}.perEvent`, message.perEventBytes as number, "B/event", `memory for ${events} events, per event`);
      figures.set(`${id}.stored`, (message.storedBytes as number) / 1e6, "MB", `bytes_stored (GetStats, what --history-bytes bounds) for ${events} events`);
    }
  } finally {
    await worker.stop();
  }
}
