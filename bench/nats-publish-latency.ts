import { StorageType, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { createCorrelationClient } from "../src/index.js";
import type { BenchConfig } from "./bench-config.js";
import { benchPayload, publishCorrelation, publishTopic } from "./bench-workload.js";
import type { FigureSet } from "./figure-set.js";
import { timeInterleaved } from "./interleaved-latency.js";
import { natsCorrelationHeaders } from "./nats-headers.js";
import { summarize } from "./percentiles.js";

/** The JetStream stream the sequential publishes go to (file storage, the server's defaults otherwise). */
const publishStream = { name: "BENCH_PUBLISH", subject: "bench.publish.observed" };

/**
 * Acked publish, sequential, corrbus against NATS JetStream in the same run:
 * `js.publish` of the 200-byte payload with the correlation metadata of the
 * Publish rows as headers, to a file-storage stream with JetStream's default
 * durability, and corrbus Publish with that metadata through the TS client
 * (the broker's default durability, `--fsync batch`): the client's
 * `publish()`, which rides its shared PublishStream, and a unary Publish
 * (publishOverStream false, one HTTP/2 stream per call), each event awaited
 * before the next. The series take
 * turns block by block after a warm-up of each, so their ratios see one
 * machine state.
 */
export async function measureNatsPublishLatency(socketPath: string, natsUrl: string, config: BenchConfig, figures: FigureSet): Promise<void> {
  const nc = await connect({ servers: natsUrl, name: "bench-nats-publisher" });
  const client = createCorrelationClient({ socketPath, sourceProcess: "bench-publisher-nats-turns" });
  const unary = createCorrelationClient({ socketPath, sourceProcess: "bench-publisher-nats-unary", publishOverStream: false });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: publishStream.name, subjects: [publishStream.subject], storage: StorageType.File });
    const js = jetstream(nc);
    const { root, child } = publishCorrelation(client.sourceProcess);
    // The root first, so the child's parent is known (not an orphan).
    await client.publish("events.bench.publish.task", benchPayload, { correlation: root });
    const results = await timeInterleaved(
      {
        "nats.jetstream.publish": (index) =>
          js.publish(publishStream.subject, benchPayload, { headers: natsCorrelationHeaders({ ...child, sequenceNumber: BigInt(index + 1) }) }),
        "nats.corrbus.publish": () => client.publish(publishTopic, benchPayload, { correlation: child }),
        "nats.corrbus.unaryPublish": () => unary.publish(publishTopic, benchPayload, { correlation: child }),
      },
      { warmup: config.warmupCalls, callsPerSeries: config.sequentialCalls, blocks: config.sequentialBlocks },
    );
    const labels: Record<string, string> = {
      "nats.jetstream.publish": "NATS JetStream js.publish sequential, acked, file storage, metadata as headers",
      "nats.corrbus.publish": "corrbus publish() sequential (its shared PublishStream) with correlation metadata, taking turns with js.publish",
      "nats.corrbus.unaryPublish": "corrbus unary Publish sequential with correlation metadata, taking turns with js.publish",
    };
    for (const [id, result] of Object.entries(results)) {
      figures.setLatency(id, summarize(result.samples), labels[id], (result.samples.length / result.elapsedMs) * 1000);
    }
  } finally {
    client.close();
    unary.close();
    await nc.close();
  }
}
