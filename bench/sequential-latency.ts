import { createCorrelationClient } from "../src/index.js";
import type { BenchConfig } from "./bench-config.js";
import { benchPayload, encodedPublishRequest, publishCorrelation, publishTopic } from "./bench-workload.js";
import type { FigureSet } from "./figure-set.js";
import { type RoundTrip, connectEcho, connectHttp2, startFloorServer } from "./floor-latency.js";
import { timeInterleaved } from "./interleaved-latency.js";
import { summarize } from "./percentiles.js";

/**
 * The sequential latency figures, interleaved block by block: the floor (raw
 * Unix-socket echo and raw node:http2 POST of the bytes of a PublishRequest
 * with metadata, served by the floor-server child process), the client's
 * unary Publish (one HTTP/2 stream per call, set against the raw POST), and
 * Publish through the TS client's default `publish()` (its shared
 * PublishStream) with correlation metadata (a child correlation: root and
 * parent ids, 3 tags, stage, source) and without, and with a new child
 * correlation (same metadata, a fresh id) for every event; and the same from two
 * clients taking turns call by call (each its own connection and child
 * correlation), as collectors publishing at once do.
 */
export async function measureSequentialLatency(socketPath: string, config: BenchConfig, figures: FigureSet): Promise<void> {
  const floor = await startFloorServer();
  const client = createCorrelationClient({ socketPath, sourceProcess: "bench-publisher" });
  const second = createCorrelationClient({ socketPath, sourceProcess: "bench-publisher-2" });
  const unary = createCorrelationClient({ socketPath, sourceProcess: "bench-publisher-unary", publishOverStream: false });
  const { root, child } = publishCorrelation(client.sourceProcess);
  const secondChild = second.childCorrelation(root, child.workflowStage, { ...child.correlationTags, host: "host-1" });
  const bytes = encodedPublishRequest(publishTopic, child);
  const roundTrips: RoundTrip[] = [];
  try {
    roundTrips.push(await connectEcho(floor.echoSocket, bytes), await connectHttp2(floor.http2Socket, bytes));
    const [echo, h2] = roundTrips;
    // The root first, so the child's parent is known (not an orphan).
    await client.publish("events.bench.publish.task", benchPayload, { correlation: root });
    const results = await timeInterleaved(
      {
        "floor.echo": () => echo.call(),
        "floor.http2": () => h2.call(),
        "publish.unary.metadata": () => unary.publish(publishTopic, benchPayload, { correlation: child }),
        "publish.sequential.metadata": () => client.publish(publishTopic, benchPayload, { correlation: child }),
        "publish.sequential.plain": () => client.publish(publishTopic, benchPayload),
        // A fresh child of the root for every event: the broker starts tracking a new correlation each time.
        "publish.sequential.newCorrelation": () =>
          client.publish(publishTopic, benchPayload, { correlation: client.childCorrelation(root, child.workflowStage, child.correlationTags) }),
        "publish.alternating.metadata": (index) =>
          index % 2 === 0
            ? client.publish(publishTopic, benchPayload, { correlation: child })
            : second.publish(publishTopic, benchPayload, { correlation: secondChild }),
        "publish.alternating.plain": (index) => (index % 2 === 0 ? client : second).publish(publishTopic, benchPayload),
      },
      { warmup: config.warmupCalls, callsPerSeries: config.sequentialCalls, blocks: config.sequentialBlocks },
    );
    const labels: Record<string, string> = {
      "floor.echo": `raw Unix-socket echo of ${bytes.length} B`,
      "floor.http2": `raw node:http2 POST of ${bytes.length} B`,
      "publish.unary.metadata": "unary Publish sequential with correlation metadata (publishOverStream false)",
      "publish.sequential.metadata": "Publish sequential with correlation metadata",
      "publish.sequential.plain": "Publish sequential without metadata",
      "publish.sequential.newCorrelation": "Publish sequential with correlation metadata, a new child correlation per event",
      "publish.alternating.metadata": "Publish sequential with correlation metadata, two clients taking turns",
      "publish.alternating.plain": "Publish sequential without metadata, two clients taking turns",
    };
    for (const [id, result] of Object.entries(results)) {
      figures.setLatency(id, summarize(result.samples), labels[id], (result.samples.length / result.elapsedMs) * 1000);
    }
    figures.set("floor.bytes", bytes.length, "B", "bytes per floor round trip (an encoded PublishRequest with metadata)");
    const withP50 = figures.value("publish.sequential.metadata.p50") as number;
    const withoutP50 = figures.value("publish.sequential.plain.p50") as number;
    figures.set("publish.overhead.sequential.us", withP50 - withoutP50, "µs", "correlation overhead, sequential p50 (with − without)");
    figures.set(
      "publish.overhead.sequential.pct",
      ((withP50 - withoutP50) / withoutP50) * 100,
      "%",
      "correlation overhead, sequential p50, of the p50 without metadata",
    );
    const newCorrelationP50 = figures.value("publish.sequential.newCorrelation.p50") as number;
    figures.set(
      "publish.overhead.newCorrelation.pct",
      ((newCorrelationP50 - withoutP50) / withoutP50) * 100,
      "%",
      "a new correlation per event, sequential p50, over the p50 without metadata",
    );
    const takingTurnsWith = figures.value("publish.alternating.metadata.p50") as number;
    const takingTurnsWithout = figures.value("publish.alternating.plain.p50") as number;
    figures.set(
      "publish.overhead.alternating.us",
      takingTurnsWith - takingTurnsWithout,
      "µs",
      "correlation overhead, two clients taking turns, p50 (with − without)",
    );
    figures.set(
      "publish.overhead.alternating.pct",
      ((takingTurnsWith - takingTurnsWithout) / takingTurnsWithout) * 100,
      "%",
      "correlation overhead, two clients taking turns, of the p50 without metadata",
    );
  } finally {
    for (const roundTrip of roundTrips) roundTrip.close();
    client.close();
    second.close();
    unary.close();
    await floor.stop();
  }
}
