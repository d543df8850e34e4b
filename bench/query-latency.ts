import { createCorrelationClient } from "../src/index.js";
import type { BenchConfig } from "./bench-config.js";
import { matchingTags, workflowRootId } from "./bench-workload.js";
import { nowMs, timeSequential } from "./call-timing.js";
import type { FigureSet } from "./figure-set.js";
import { summarize } from "./percentiles.js";
import { expectMessage, spawnWorker } from "./worker-process.js";

/**
 * FindByTag and GetTimeline end-to-end through the TS client's plain queries
 * (bus.findByTag, bus.timeline: what a user calls) → broker process, on a
 * broker whose history is loaded through PublishStream: the small tagged
 * history, FindByTag; the workflows, GetTimeline; the rest of the tagged
 * history, FindByTag again. workers/in-broker.ts replays the same order.
 */
export async function measureQueries(socketPath: string, config: BenchConfig, figures: FigureSet): Promise<void> {
  const client = createCorrelationClient({ socketPath, sourceProcess: "bench-analyst" });
  const [smallHistory, largeHistory] = config.findHistorySizes;
  try {
    await loadHistory(socketPath, ["--workload", "tagged", "--first", "0", "--count", String(smallHistory)], config, figures);
    await timeFindByTag(smallHistory);
    for (const [position, timeline] of config.timelines.entries()) {
      await loadHistory(socketPath, ["--workload", "workflow", "--workflow", String(position + 1), "--count", String(timeline.events)], config, figures);
    }
    for (const [position, timeline] of config.timelines.entries()) await timeTimeline(position + 1, timeline.events, timeline.callsEndToEnd);
    const loadStart = nowMs();
    await loadHistory(socketPath, ["--workload", "tagged", "--first", String(smallHistory), "--count", String(largeHistory - smallHistory)], config, figures);
    figures.set(
      "history.load.rate",
      ((largeHistory - smallHistory) / (nowMs() - loadStart)) * 1000,
      "events/s",
      "history load through PublishStream (1 collector, incl. process start)",
    );
    await timeFindByTag(largeHistory);
  } finally {
    client.close();
  }

  async function timeFindByTag(historySize: number): Promise<void> {
    const request = { tags: { ...matchingTags }, limit: config.findLimit };
    let results = 0;
    const call = async () => {
      results = (await client.findByTag(request)).events.length;
    };
    await timeSequential(Math.min(100, config.findCallsEndToEnd), call);
    const samples = await timeSequential(config.findCallsEndToEnd, call);
    const id = `find.history${historySize}.endToEnd`;
    figures.setLatency(id, summarize(samples), `FindByTag ${config.findLimit} results @${historySize} events, end-to-end`);
    figures.set(`${id}.results`, results, "events", `FindByTag @${historySize}, end-to-end: events answered`);
    const stats = await client.service.getStats({});
    figures.set(`find.history${historySize}.stored`, Number(stats.eventsStored), "events", `events in the broker's history during FindByTag @${historySize}`);
    if (results !== config.findLimit) figures.notes.push(`FindByTag @${historySize} end-to-end answered ${results} events, not ${config.findLimit}`);
  }

  async function timeTimeline(workflow: number, events: number, calls: number): Promise<void> {
    const request = { rootCorrelationId: workflowRootId(workflow), limit: events };
    let results = 0;
    const call = async () => {
      results = (await client.timeline(request)).events.length;
    };
    await timeSequential(Math.max(2, Math.min(20, calls / 5)), call);
    const samples = await timeSequential(calls, call);
    const id = `timeline.events${events}.endToEnd`;
    figures.setLatency(id, summarize(samples), `GetTimeline of a ${events}-event workflow, end-to-end`);
    if (results !== events) figures.notes.push(`GetTimeline ${events} end-to-end answered ${results} events`);
  }
}

/** Streams events into the broker from a loader process (stream-publisher) and waits until all are acked. */
async function loadHistory(socketPath: string, args: string[], config: BenchConfig, figures: FigureSet): Promise<void> {
  const loader = spawnWorker("workers/stream-publisher.js", ["--socket", socketPath, "--batch", String(config.streamBatch), ...args]);
  try {
    const done = await expectMessage(loader, "done", config.phaseTimeoutMs);
    if (done.acked !== done.count) figures.notes.push(`history load ${args.join(" ")}: ${done.acked} of ${done.count} acked`);
  } finally {
    await loader.stop();
  }
}
