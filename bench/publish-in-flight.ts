import { createCorrelationClient } from "../src/index.js";
import type { BenchConfig } from "./bench-config.js";
import { benchPayload, publishCorrelation, publishTopic } from "./bench-workload.js";
import { timeInFlight } from "./call-timing.js";
import type { FigureSet } from "./figure-set.js";
import { percentile } from "./percentiles.js";

type Variant = "metadata" | "plain";
const variants: readonly Variant[] = ["metadata", "plain"];
const labels: Record<Variant, string> = { metadata: "with correlation metadata", plain: "without metadata" };

/**
 * Publish rate through the TS client with `inFlight` calls in flight, with
 * correlation metadata and without, in alternating blocks (ABAB…) so drift
 * hits both alike. The overhead is the median of the pairs' ratios, with
 * their middle half: a garbage collection or a busy neighbour process makes
 * one block slow, and in a sum that one block moved the figure by ±10 %.
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
    const ratios: number[] = [];
    const perBlock = Math.ceil(config.inFlightCalls / config.inFlightBlocks);
    for (let block = 0; block < config.inFlightBlocks; block++) {
      const blockMs: Record<Variant, number> = { metadata: 0, plain: 0 };
      for (const variant of variants) blockMs[variant] = await timeInFlight(perBlock, config.inFlight, calls[variant]);
      for (const variant of variants) elapsedMs[variant] += blockMs[variant];
      ratios.push(blockMs.metadata / blockMs.plain);
    }
    const total = perBlock * config.inFlightBlocks;
    for (const variant of variants) {
      figures.set(
        `publish.inflight.${variant}.rate`,
        (total / elapsedMs[variant]) * 1000,
        "calls/s",
        `Publish ${labels[variant]}, ${config.inFlight} calls in flight`,
      );
    }
    // Time per call grows by this much with metadata.
    ratios.sort((a, b) => a - b);
    const pct = (fraction: number) => (percentile(ratios, fraction) - 1) * 100;
    figures.set(
      "publish.overhead.inflight.pct",
      pct(0.5),
      "%",
      `correlation overhead, ${config.inFlight} in flight (time per call, median of ${ratios.length} block pairs)`,
    );
    figures.set("publish.overhead.inflight.p25", pct(0.25), "%", "correlation overhead in flight, first quartile of the block pairs");
    figures.set("publish.overhead.inflight.p75", pct(0.75), "%", "correlation overhead in flight, third quartile of the block pairs");
  } finally {
    client.close();
  }
}
