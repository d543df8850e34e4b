import { createCorrelationClient } from "../src/index.js";
import type { BenchConfig } from "./bench-config.js";
import { benchPayload, publishCorrelation, publishTopic } from "./bench-workload.js";
import { timeInFlight } from "./call-timing.js";
import type { FigureSet } from "./figure-set.js";

type Variant = "metadata" | "plain";
const variants: readonly Variant[] = ["metadata", "plain"];
const labels: Record<Variant, string> = { metadata: "with correlation metadata", plain: "without metadata" };

/**
 * Publish rate through the TS client with `inFlight` calls in flight, with
 * correlation metadata and without, in alternating blocks (ABAB…) so drift
 * hits both alike.
 */
export async function measurePublishInFlight(socketPath: string, config: BenchConfig, figures: FigureSet): Promise<void> {
  const client = createCorrelationClient({ socketPath, sourceProcess: "bench-publisher" });
  const { root, child } = publishCorrelation(client.sourceProcess);
  const calls: Record<Variant, () => Promise<unknown>> = {
    metadata: () => client.publish(publishTopic, benchPayload, { correlation: child }),
    plain: () => client.publish(publishTopic, benchPayload),
  };
  try {
    await client.publish("events.bench.publish.task", benchPayload, { correlation: root });
    for (const variant of variants) await timeInFlight(config.warmupCalls, config.inFlight, calls[variant]);
    const elapsedMs: Record<Variant, number> = { metadata: 0, plain: 0 };
    const perBlock = Math.ceil(config.inFlightCalls / config.inFlightBlocks);
    for (let block = 0; block < config.inFlightBlocks; block++) {
      for (const variant of variants) elapsedMs[variant] += await timeInFlight(perBlock, config.inFlight, calls[variant]);
    }
    const total = perBlock * config.inFlightBlocks;
    for (const variant of variants) {
      figures.set(`publish.inflight.${variant}.rate`, (total / elapsedMs[variant]) * 1000, "calls/s", `Publish ${labels[variant]}, ${config.inFlight} calls in flight`);
    }
    // Time per call grows by this much with metadata.
    figures.set(
      "publish.overhead.inflight.pct",
      ((elapsedMs.metadata - elapsedMs.plain) / elapsedMs.plain) * 100,
      "%",
      `correlation overhead, ${config.inFlight} in flight (time per call)`,
    );
  } finally {
    client.close();
  }
}
