import { type CorrelationClient, createCorrelationClient } from "../src/index.js";
import type { BenchConfig } from "./bench-config.js";
import { idSpace, taggedEnvelope } from "./bench-workload.js";
import { wallClockMs } from "./call-timing.js";
import type { FigureSet } from "./figure-set.js";
import { waitForStat } from "./fleet-progress.js";

/** The stream the bench's host brokers forward to (`--stream`, `--subject-prefix`), apart from the simulated hosts'. */
export const forwardedStream = { stream: "BENCH_FLEET", subjectPrefix: "benchfleet" } as const;

/** Warm-up events each host broker takes (and forwards) before the measured ones. */
const warmupEvents = 1000;

/** Topic of the streamed events. */
const streamedTopic = "events.bench.fleet.forwarded";

/**
 * Forwarding rate from one host: `fleetEvents` tagged events published
 * through the TS client's stream publisher (client.streamPublisher(), its
 * defaults) into the broker that forwards (`serve --forward`), timed from the
 * first publish to the GetStats answer whose forward.acked_event_id reached
 * the last event's id (every event acknowledged by JetStream, the durable
 * cursor past it). The same publisher's rate into the broker that does not
 * forward is measured next, as the reference: its journal then holds those
 * events for the catch-up figure. Each broker first takes `warmupEvents`
 * (forwarded, on the first, before the clock starts).
 */
export async function measureForwardRate(forwardingSocket: string, plainSocket: string, config: BenchConfig, figures: FigureSet): Promise<void> {
  const forwarding = createCorrelationClient({ socketPath: forwardingSocket, sourceProcess: "bench-fleet-collector" });
  const plain = createCorrelationClient({ socketPath: plainSocket, sourceProcess: "bench-fleet-collector" });
  try {
    const warm = await publishAll(forwarding, warmupEvents, idSpace.fleet + 0x8000);
    await waitForStat(forwarding, forwardAcked, warm.lastId, config.phaseTimeoutMs, "warm-up events forwarded");
    const run = await publishAll(forwarding, config.fleetEvents, idSpace.fleet + 0x100);
    const reached = await waitForStat(forwarding, forwardAcked, run.lastId, config.phaseTimeoutMs, "events forwarded");
    const forward = reached.stats.forward;
    const label = `forwarding from one host broker, ${config.fleetEvents} events through the client's stream publisher`;
    figures.set(
      "fleet.forward.live.rate",
      (config.fleetEvents / (reached.atMs - run.startMs)) * 1000,
      "events/s",
      `${label}: first publish → acked by JetStream`,
    );
    figures.set("fleet.forward.live.elapsed", reached.atMs - run.startMs, "ms", `${label}: first publish → last event acked by JetStream`);
    figures.set("fleet.forward.live.events", config.fleetEvents, "events", `${label}: events`);
    figures.set(
      "fleet.forward.live.publishRate",
      (config.fleetEvents / (run.endMs - run.startMs)) * 1000,
      "events/s",
      `${label}: publish rate (all acked by the broker)`,
    );
    figures.set("fleet.forward.live.tail", reached.atMs - run.endMs, "ms", `${label}: last broker ack → last JetStream ack`);
    if (forward === undefined) throw new Error("the forwarding broker's GetStats has no forward section");
    for (const [key, value] of [
      ["publishErrors", forward.publishErrors],
      ["eventsLost", forward.eventsLost],
      ["duplicates", forward.duplicates],
    ] as const) {
      if (value > 0n) figures.notes.push(`forwarding broker counted forward.${key} = ${value}`);
    }

    await publishAll(plain, warmupEvents, idSpace.fleet + 0x8000);
    const reference = await publishAll(plain, config.fleetEvents, idSpace.fleet + 0x100);
    figures.set(
      "fleet.forward.off.publishRate",
      (config.fleetEvents / (reference.endMs - reference.startMs)) * 1000,
      "events/s",
      `the same ${config.fleetEvents} events through the client's stream publisher into a broker not forwarding`,
    );
  } finally {
    forwarding.close();
    plain.close();
  }
}

/** forward.acked_event_id of a GetStats answer (0 without forwarding). */
export function forwardAcked(stats: { forward?: { ackedEventId: bigint } }): number {
  return Number(stats.forward?.ackedEventId ?? 0n);
}

/** Publishes `count` tagged events through one stream publisher; answers when the broker acked all, with the last id and wall-clock times. */
async function publishAll(client: CorrelationClient, count: number, space: number): Promise<{ lastId: number; startMs: number; endMs: number }> {
  const publisher = client.streamPublisher();
  try {
    const acks: Promise<{ eventId: bigint }>[] = [];
    const startMs = wallClockMs();
    for (let index = 0; index < count; index++) {
      acks.push(publisher.publish(taggedEnvelope(index, space, "bench-fleet-collector", streamedTopic)));
      // A turn of the event loop per batch, as a collector producing events over time gives the publisher.
      if (index % 100 === 99) await new Promise((resolve) => setImmediate(resolve));
    }
    const settled = await Promise.all(acks);
    const endMs = wallClockMs();
    return { lastId: Number(settled[settled.length - 1].eventId), startMs, endMs };
  } finally {
    await publisher.close();
  }
}
