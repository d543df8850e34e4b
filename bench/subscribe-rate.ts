import { createCorrelationClient } from "../src/index.js";
import type { BenchConfig } from "./bench-config.js";
import { idSpace } from "./bench-workload.js";
import type { FigureSet } from "./figure-set.js";
import { median } from "./percentiles.js";
import { type WorkerMessage, type WorkerProcess, expectMessage, spawnWorker } from "./worker-process.js";

/**
 * Subscribe delivery to `subscribers` processes: a stream publisher process
 * publishes `subscribeEvents` events (after warm-up events every subscriber
 * also receives); each subscriber times its events from the first to the last
 * arrival. Cut-offs and drops come from GetStats before and after.
 */
export async function measureSubscribe(socketPath: string, subscribers: number, config: BenchConfig, figures: FigureSet): Promise<void> {
  const id = `subscribe.subscribers${subscribers}`;
  const topic = `events.bench.fanout${subscribers}.tick`;
  const stats = createCorrelationClient({ socketPath, sourceProcess: "bench-stats" });
  const readers: WorkerProcess[] = [];
  let publisher: WorkerProcess | undefined;
  try {
    const before = await stats.service.getStats({});
    for (let index = 0; index < subscribers; index++) {
      readers.push(
        spawnWorker("workers/subscriber.js", [
          "--socket",
          socketPath,
          "--pattern",
          `events.bench.fanout${subscribers}.#`,
          "--expect",
          String(config.subscribeEvents),
          "--warmup",
          String(config.subscribeWarmupEvents),
          "--name",
          `bench-subscriber-${index}`,
        ]),
      );
    }
    await Promise.all(readers.map((reader) => expectMessage(reader, "ready", config.phaseTimeoutMs)));
    publisher = spawnWorker("workers/stream-publisher.js", [
      "--socket",
      socketPath,
      "--count",
      String(config.subscribeEvents),
      "--batch",
      String(config.streamBatch),
      "--space",
      String(idSpace.tagged + 0x1000 + subscribers),
      "--name",
      "bench-fanout-publisher",
      "--topic",
      topic,
      "--warmup",
      String(config.subscribeWarmupEvents),
      "--go",
    ]);
    await expectMessage(publisher, "ready", config.phaseTimeoutMs);
    publisher.send("go");
    const published = await expectMessage(publisher, "done", config.phaseTimeoutMs);
    // Once everything is published, the subscribers only have their queues to drain.
    const results = await Promise.all(readers.map((reader) => finishSubscriber(reader, config.drainTimeoutMs)));
    const after = await stats.service.getStats({});

    // A subscriber cut off before its second event has no rate of its own.
    const timed = results.filter((result) => (result.count as number) > 1);
    const perSubscriber = timed.map((result) => ((result.count as number) / ((result.lastMs as number) - (result.firstMs as number))) * 1000);
    const total = results.reduce((sum, result) => sum + (result.count as number), 0);
    const firstMs = Math.min(...timed.map((result) => result.firstMs as number));
    const lastMs = Math.max(...timed.map((result) => result.lastMs as number));
    figures.set(`${id}.perSubscriber.median`, median(perSubscriber), "events/s", `Subscribe to ${subscribers}: events/s per subscriber (median)`);
    figures.set(`${id}.perSubscriber.min`, Math.min(...perSubscriber), "events/s", `Subscribe to ${subscribers}: events/s of the slowest subscriber`);
    figures.set(`${id}.total`, (total / (lastMs - firstMs)) * 1000, "deliveries/s", `Subscribe to ${subscribers}: deliveries/s over all subscribers`);
    figures.set(`${id}.delivered`, total, "events", `Subscribe to ${subscribers}: measured events received (all subscribers)`);
    figures.set(
      `${id}.publisherRate`,
      ((published.acked as number) / ((published.endMs as number) - (published.startMs as number))) * 1000,
      "events/s",
      `Subscribe to ${subscribers}: the stream publisher's own rate`,
    );
    const cutOffs = Number(after.subscribersCutOff - before.subscribersCutOff);
    const dropped = Number(after.eventsDropped - before.eventsDropped);
    figures.set(`${id}.cutOffs`, cutOffs, "subscribers", `Subscribe to ${subscribers}: subscribers cut off (GetStats)`);
    figures.set(`${id}.dropped`, dropped, "events", `Subscribe to ${subscribers}: events dropped (GetStats)`);
    if (subscribers === 1) await measureReplay(socketPath, before.lastEventId + 1n, config, figures);
    const short = results.filter((result) => result.type !== "done");
    if (cutOffs > 0 || dropped > 0 || short.length > 0) {
      figures.notes.push(
        `Subscribe to ${subscribers}: ${cutOffs} cut-off(s), ${dropped} dropped event(s); ` +
          `${short.length} subscriber(s) ended early: ${short.map((result) => `${result.type} after ${result.count} (${result.message ?? ""})`).join("; ")}`,
      );
    }
  } finally {
    await Promise.all([...readers, ...(publisher ? [publisher] : [])].map((worker) => worker.stop()));
    stats.close();
  }
}

/**
 * Delivery from history, not capped by what one publisher can ingest: a new
 * subscriber replays the events the one-subscriber phase stored (from its
 * first event id), timed from its first to its last arrival.
 */
async function measureReplay(socketPath: string, fromEventId: bigint, config: BenchConfig, figures: FigureSet): Promise<void> {
  const stored = config.subscribeWarmupEvents + config.subscribeEvents;
  const reader = spawnWorker("workers/subscriber.js", [
    "--socket",
    socketPath,
    "--pattern",
    "events.bench.fanout1.#",
    "--expect",
    String(stored),
    "--from-event-id",
    String(fromEventId),
    "--name",
    "bench-replay-subscriber",
  ]);
  try {
    await expectMessage(reader, "ready", config.phaseTimeoutMs);
    const result = await finishSubscriber(reader, config.drainTimeoutMs);
    figures.set(
      "subscribe.replay1.rate",
      ((result.count as number) / ((result.lastMs as number) - (result.firstMs as number))) * 1000,
      "events/s",
      "Subscribe replay to 1 subscriber: events/s",
    );
    figures.set("subscribe.replay1.events", result.count as number, "events", "Subscribe replay to 1 subscriber: events received");
    if (result.type !== "done") figures.notes.push(`Subscribe replay: ${result.type} after ${result.count} of ${stored} events (${result.message ?? ""})`);
  } finally {
    await reader.stop();
  }
}

/** The subscriber's outcome: done, an error (cut-off), or what it had when stopped at the deadline. */
export async function finishSubscriber(reader: WorkerProcess, timeoutMs: number): Promise<WorkerMessage> {
  try {
    return await reader.waitForAny(["done", "error"], timeoutMs);
  } catch {
    reader.send("stop");
    return reader.waitForAny(["done", "error", "stopped"], 5000);
  }
}
