import { createCorrelationClient } from "../src/index.js";
import type { BenchConfig } from "./bench-config.js";
import { benchPayload, publishCorrelation, publishTopic } from "./bench-workload.js";
import type { FigureSet } from "./figure-set.js";
import { timeInterleaved } from "./interleaved-latency.js";
import { summarize } from "./percentiles.js";

/**
 * What forwarding costs a host's publishers: sequential Publish with
 * correlation metadata through the TS client's publish() into a broker that
 * forwards every event to JetStream (`serve --forward`) and into one that
 * does not, the two series taking turns block by block after a warm-up of
 * each, so both see the same machine; their p50 and p99 ratios are the cost.
 */
export async function measureForwardPublishLatency(forwardingSocket: string, plainSocket: string, config: BenchConfig, figures: FigureSet): Promise<void> {
  const forwarding = createCorrelationClient({ socketPath: forwardingSocket, sourceProcess: "bench-fleet-publisher" });
  const plain = createCorrelationClient({ socketPath: plainSocket, sourceProcess: "bench-fleet-publisher" });
  const { root, child } = publishCorrelation(forwarding.sourceProcess);
  try {
    // The root first on each broker, so the child's parent is known (not an orphan).
    await forwarding.publish("events.bench.publish.task", benchPayload, { correlation: root });
    await plain.publish("events.bench.publish.task", benchPayload, { correlation: root });
    const results = await timeInterleaved(
      {
        "fleet.publish.forwarding": () => forwarding.publish(publishTopic, benchPayload, { correlation: child }),
        "fleet.publish.plain": () => plain.publish(publishTopic, benchPayload, { correlation: child }),
      },
      { warmup: config.fleetWarmupCalls, callsPerSeries: config.fleetPublishCalls, blocks: config.fleetPublishBlocks },
    );
    const labels: Record<string, string> = {
      "fleet.publish.forwarding": "Publish sequential with correlation metadata into a broker forwarding to JetStream",
      "fleet.publish.plain": "Publish sequential with correlation metadata into a broker not forwarding (taking turns)",
    };
    for (const [id, result] of Object.entries(results)) {
      figures.setLatency(id, summarize(result.samples), labels[id], (result.samples.length / result.elapsedMs) * 1000);
    }
  } finally {
    forwarding.close();
    plain.close();
  }
}
