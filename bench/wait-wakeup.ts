import { type CorrelationClient, createCorrelationClient } from "../src/index.js";
import type { BenchConfig } from "./bench-config.js";
import { benchPayload, benchUuid, idSpace } from "./bench-workload.js";
import { nowMs } from "./call-timing.js";
import type { FigureSet } from "./figure-set.js";
import { summarize } from "./percentiles.js";

/**
 * WaitForResults wake-up end-to-end: one client waits for a correlation's
 * first result; once GetStats (on the waiter's connection) shows the wait
 * registered, another client, on its own connection, publishes the
 * completing event. The figure is the waiter's answer time minus the start of
 * that Publish call. Polling GetStats (rather than sleeping) also keeps both
 * processes busy: a Publish that follows a few idle milliseconds is several
 * times slower on this VM, which would hide the wake-up itself.
 */
export async function measureWaitWakeup(socketPath: string, config: BenchConfig, figures: FigureSet): Promise<void> {
  const waiter = createCorrelationClient({ socketPath, sourceProcess: "bench-agent" });
  const publisher = createCorrelationClient({ socketPath, sourceProcess: "bench-collector" });
  const wakeUps: number[] = [];
  const publishes: number[] = [];
  let early = 0;
  let polls = 0;
  try {
    const warmup = Math.min(20, config.waitCallsEndToEnd);
    for (let index = 0; index < warmup + config.waitCallsEndToEnd; index++) {
      const correlationId = benchUuid(idSpace.wait, 0x10_0000 + index);
      const correlation = { ...publisher.newRootCorrelation("answer", { investigation_id: "INC-WAIT" }), correlationId, rootCorrelationId: correlationId };
      let answeredAt = 0;
      const waiting = waiter.service.waitForResults({ correlationId, expectedResults: 1, timeout: { seconds: 10n }, omitPayloads: true }).then((answer) => {
        answeredAt = nowMs();
        return answer;
      });
      await untilRegistered(waiter, config.waitSettleMs, () => polls++);
      if (answeredAt !== 0) early++;
      const start = nowMs();
      await publisher.publish("events.bench.wait.result", benchPayload, { correlation, final: true });
      const publishedAt = nowMs();
      const answer = await waiting;
      if (!answer.complete) throw new Error(`wait ${correlationId} ended incomplete`);
      if (index < warmup) continue;
      wakeUps.push((answeredAt - start) * 1000);
      publishes.push((publishedAt - start) * 1000);
    }
    figures.setLatency("wait.endToEnd", summarize(wakeUps), "WaitForResults wake-up end-to-end (answer − publish start)");
    figures.setLatency("wait.publish", summarize(publishes), "the completing Publish call during the wake-up figure");
    figures.set("wait.polls", polls / (warmup + config.waitCallsEndToEnd), "calls", "GetStats polls per wait until it was registered");
    if (early > 0) figures.notes.push(`WaitForResults: ${early} wait(s) answered before the completing event was published`);
  } finally {
    waiter.close();
    publisher.close();
  }
}

/** Polls GetStats until the broker counts a waiter (at most `limitMs`). */
async function untilRegistered(client: CorrelationClient, limitMs: number, onPoll: () => void): Promise<void> {
  const deadline = nowMs() + limitMs;
  while (nowMs() < deadline) {
    onPoll();
    if ((await client.service.getStats({})).waiters > 0) return;
  }
}
