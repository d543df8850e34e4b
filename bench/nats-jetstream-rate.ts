import { StorageType, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import type { BenchConfig } from "./bench-config.js";
import { idSpace } from "./bench-workload.js";
import type { FigureSet } from "./figure-set.js";
import { finishSubscriber } from "./subscribe-rate.js";
import { type WorkerProcess, expectMessage, spawnWorker } from "./worker-process.js";

/** JetStream publishes kept in flight by the async publisher, as the comparison states. */
export const natsAsyncInFlight = 256;

/** The stream the async publisher fills and the ordered consumer replays. */
const rateStream = { name: "BENCH_STREAM", subject: "bench.stream.observed" };

/**
 * JetStream's counterparts of the PublishStream and replay rows, each from a
 * process of its own: one publisher process streams `streamEvents` messages
 * (after `streamWarmupEvents`) with `js.publish`, 256 in flight, each acked,
 * to a file-storage stream; then a new process replays everything that stream
 * holds with an ordered consumer (the client's consume() defaults), timed from
 * its first to its last message, as the corrbus replay subscriber is.
 */
export async function measureNatsJetStreamRates(natsUrl: string, config: BenchConfig, figures: FigureSet): Promise<void> {
  const nc = await connect({ servers: natsUrl, name: "bench-nats-admin" });
  const workers: WorkerProcess[] = [];
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: rateStream.name, subjects: [rateStream.subject], storage: StorageType.File });
    const publisher = spawnWorker("workers/nats-publisher.js", [
      "--server",
      natsUrl,
      "--mode",
      "jetstream",
      "--subject",
      rateStream.subject,
      "--count",
      String(config.streamEvents),
      "--warmup",
      String(config.streamWarmupEvents),
      "--in-flight",
      String(natsAsyncInFlight),
      "--space",
      String(idSpace.tagged + 0x2000),
      "--name",
      "bench-nats-async-publisher",
      "--go",
    ]);
    workers.push(publisher);
    await expectMessage(publisher, "ready", config.phaseTimeoutMs);
    publisher.send("go");
    const published = await expectMessage(publisher, "done", config.phaseTimeoutMs);
    const acked = published.acked as number;
    const elapsed = (published.endMs as number) - (published.startMs as number);
    const label = `NATS JetStream js.publish, ${natsAsyncInFlight} in flight, from 1 process`;
    figures.set("nats.jetstream.async.rate", (acked / elapsed) * 1000, "events/s", `${label}: acked messages/s`);
    figures.set("nats.jetstream.async.events", acked, "events", `${label}: messages acked`);
    figures.set("nats.jetstream.async.elapsed", elapsed, "ms", `${label}: run time`);

    const stored = Number((await jsm.streams.info(rateStream.name)).state.messages);
    const reader = spawnWorker("workers/nats-subscriber.js", [
      "--server",
      natsUrl,
      "--mode",
      "ordered",
      "--stream",
      rateStream.name,
      "--expect",
      String(stored),
      "--name",
      "bench-nats-replay-subscriber",
    ]);
    workers.push(reader);
    await expectMessage(reader, "ready", config.phaseTimeoutMs);
    const result = await finishSubscriber(reader, config.drainTimeoutMs);
    const count = result.count as number;
    figures.set(
      "nats.jetstream.replay.rate",
      (count / ((result.lastMs as number) - (result.firstMs as number))) * 1000,
      "events/s",
      "NATS JetStream ordered consumer replaying the stream to a new process: messages/s",
    );
    figures.set("nats.jetstream.replay.events", count, "events", "NATS JetStream ordered consumer replay: messages received");
    if (result.type !== "done") figures.notes.push(`NATS replay: ${result.type} after ${count} of ${stored} messages (${result.message ?? ""})`);
    if ((result.withoutHeaders as number) > 0) figures.notes.push(`NATS replay: ${result.withoutHeaders} messages arrived without headers`);
  } finally {
    await Promise.all(workers.map((worker) => worker.stop()));
    await nc.close();
  }
}
