import type { BenchConfig } from "./bench-config.js";
import { idSpace } from "./bench-workload.js";
import type { FigureSet } from "./figure-set.js";
import { median } from "./percentiles.js";
import { finishSubscriber } from "./subscribe-rate.js";
import { type WorkerProcess, expectMessage, spawnWorker } from "./worker-process.js";

/**
 * NATS core pub→sub to `subscribers` processes, the counterpart of the
 * Subscribe delivery rows: one publisher process publishes `subscribeEvents`
 * messages (200-byte payload, the correlation metadata as headers) after
 * warm-up messages every subscriber also receives; each subscriber times its
 * messages from the first to the last arrival. NATS core keeps no history and
 * acks nothing: this is the figure corrbus' live delivery is held against.
 */
export async function measureNatsFanout(natsUrl: string, subscribers: number, config: BenchConfig, figures: FigureSet): Promise<void> {
  const id = `nats.core.subscribers${subscribers}`;
  const subject = `bench.fanout${subscribers}.tick`;
  const readers: WorkerProcess[] = [];
  let publisher: WorkerProcess | undefined;
  try {
    for (let index = 0; index < subscribers; index++) {
      readers.push(
        spawnWorker("workers/nats-subscriber.js", [
          "--server",
          natsUrl,
          "--mode",
          "core",
          "--subject",
          `bench.fanout${subscribers}.>`,
          "--expect",
          String(config.subscribeEvents),
          "--warmup",
          String(config.subscribeWarmupEvents),
          "--name",
          `bench-nats-subscriber-${index}`,
        ]),
      );
    }
    await Promise.all(readers.map((reader) => expectMessage(reader, "ready", config.phaseTimeoutMs)));
    publisher = spawnWorker("workers/nats-publisher.js", [
      "--server",
      natsUrl,
      "--mode",
      "core",
      "--subject",
      subject,
      "--count",
      String(config.subscribeEvents),
      "--warmup",
      String(config.subscribeWarmupEvents),
      "--space",
      String(idSpace.tagged + 0x3000 + subscribers),
      "--name",
      "bench-nats-fanout-publisher",
      "--go",
    ]);
    await expectMessage(publisher, "ready", config.phaseTimeoutMs);
    publisher.send("go");
    const published = await expectMessage(publisher, "done", config.phaseTimeoutMs);
    const results = await Promise.all(readers.map((reader) => finishSubscriber(reader, config.drainTimeoutMs)));

    const timed = results.filter((result) => (result.count as number) > 1);
    const perSubscriber = timed.map((result) => ((result.count as number) / ((result.lastMs as number) - (result.firstMs as number))) * 1000);
    const total = results.reduce((sum, result) => sum + (result.count as number), 0);
    const firstMs = Math.min(...timed.map((result) => result.firstMs as number));
    const lastMs = Math.max(...timed.map((result) => result.lastMs as number));
    const label = `NATS core pub→sub to ${subscribers}`;
    figures.set(`${id}.perSubscriber.median`, median(perSubscriber), "events/s", `${label}: messages/s per subscriber (median)`);
    figures.set(`${id}.perSubscriber.min`, Math.min(...perSubscriber), "events/s", `${label}: messages/s of the slowest subscriber`);
    figures.set(`${id}.total`, (total / (lastMs - firstMs)) * 1000, "deliveries/s", `${label}: deliveries/s over all subscribers`);
    figures.set(`${id}.delivered`, total, "events", `${label}: measured messages received (all subscribers)`);
    figures.set(
      `${id}.publisherRate`,
      ((published.acked as number) / ((published.endMs as number) - (published.startMs as number))) * 1000,
      "events/s",
      `${label}: the publisher's own rate (to its last flush)`,
    );
    const short = results.filter((result) => result.type !== "done");
    if (short.length > 0) {
      figures.notes.push(
        `${label}: ${short.length} subscriber(s) ended early (NATS drops what a slow consumer cannot take): ` +
          short.map((result) => `${result.type} after ${result.count} (${result.message ?? ""})`).join("; "),
      );
    }
    const withoutHeaders = results.reduce((sum, result) => sum + ((result.withoutHeaders as number | undefined) ?? 0), 0);
    if (withoutHeaders > 0) figures.notes.push(`${label}: ${withoutHeaders} messages arrived without headers`);
  } finally {
    await Promise.all([...readers, ...(publisher ? [publisher] : [])].map((worker) => worker.stop()));
  }
}
