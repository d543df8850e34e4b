// Load test with real processes: 32 publishers and 8 subscribers against one broker.
// Everything asserted is a count, an id set or an order; durations are printed, never asserted.
//
// The broker runs with its journal (the default, fsync=batch): that is what users run, and it
// is the path where concurrent publishers interleave most, since an event is stamped before the
// journal write it waits for and routed only after it. The journal costs little here (~20 MB).
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { type BrokerProcess, startBrokerProcess } from "../helpers/broker-process.js";
import { eventually } from "../helpers/eventually.js";
import { type FixtureMessage, type FixtureProcess, messagesOf, spawnFixture } from "../helpers/fixture-process.js";

const publisherCount = 32;
/** The first ones publish with unary Publish (half over gRPC), the rest with PublishStream. */
const unaryPublishers = 4;
const eventsPerPublisher = 2000;
const streamBatch = 100;
const totalEvents = publisherCount * eventsPerPublisher; // 64 000
/**
 * Per-subscriber queue, twice the default: fast subscribers lag the publishers by ~1 500
 * events at most on this 2-core machine under load, but once, with other test suites running
 * beside it, a publisher saw one recipient fewer (a fast subscriber or a group member cut off
 * past 10 000). The slow one stops reading after its first event: what is in flight to it
 * (HTTP/2 window, socket buffers, at most two 1 MiB messages: ~10 000 events of this size)
 * plus its 20 000 queued events are far fewer than the 64 000 published, so it is certainly cut off.
 */
const subscriberQueue = 20_000;
/** The broker's resident memory stays under this, at the end and at its peak. */
const rssBoundBytes = 512 * 1024 * 1024;
/** Fast subscribers: every pattern covers every publisher's topic (events.load.pNN). */
const fastPatterns = [["events.load.#"], ["events.#"], ["#"], ["events.load.+"], ["events.+.+"]];

type Range = [number, number];

describe("load: 32 publishers, 8 subscribers, one broker", () => {
  let broker: BrokerProcess | undefined;
  const started: FixtureProcess[] = [];

  afterAll(async () => {
    for (const fixture of started.splice(0)) fixture.child.kill("SIGKILL");
    await broker?.stop();
  });

  function spawn(name: string, args: string[]): FixtureProcess {
    const fixture = spawnFixture(name, ["--socket", (broker as BrokerProcess).socketPath, ...args]);
    started.push(fixture);
    return fixture;
  }

  it("should store every acknowledged event once, deliver it once and in order to every fast subscriber and to one group member, and cut off the slow one", async () => {
    const phases: Record<string, number> = {};
    let mark = performance.now();
    const phase = (name: string) => {
      const now = performance.now();
      phases[name] = Math.round(now - mark);
      mark = now;
    };
    broker = await startBrokerProcess(["--subscriber-queue", String(subscriberQueue)]);
    const brokerPid = broker.child.pid as number;
    phase("broker start");

    // Subscribers first, each ready before any event is published.
    const fast = fastPatterns.map((patterns, index) =>
      spawn("subscriber", [
        ...patterns.flatMap((pattern) => ["--pattern", pattern]),
        "--name",
        `fast-${index}`,
        "--max",
        String(totalEvents),
        "--summary",
        ...(index === 1 ? ["--protocol", "grpc"] : []),
      ]),
    );
    const group = [0, 1].map((index) => spawn("subscriber", ["--pattern", "events.load.#", "--group", "loaders", "--name", `member-${index}`, "--summary"]));
    const slow = spawn("subscriber", ["--pattern", "events.load.#", "--name", "slow", "--pause-after", "1", "--summary"]);
    const subscribers = [...fast, ...group, slow];
    await Promise.all(subscribers.map((subscriber) => subscriber.waitFor("ready", 60_000)));
    phase("subscribers ready");

    // Then every publisher at once: its own topic and payload prefix, a per-run tag.
    const runTag = `run=${randomUUID()}`;
    const publishers = Array.from({ length: publisherCount }, (_, index) => {
      const name = `p${String(index).padStart(2, "0")}`;
      const unary = index < unaryPublishers;
      return spawn("publisher", [
        "--topic",
        `events.load.${name}`,
        "--prefix",
        `${name}-`,
        "--count",
        String(eventsPerPublisher),
        "--name",
        `load-${name}`,
        "--tag",
        runTag,
        ...(unary ? [] : ["--stream", "--batch", String(streamBatch)]),
        ...(index % 2 === 1 && (unary || index % 7 === 0) ? ["--protocol", "grpc"] : []),
      ]);
    });
    const codes = await Promise.all(publishers.map((publisher) => publisher.exited));
    phase("publishers done");
    const failures = publishers.flatMap((publisher, index) =>
      codes[index] === 0 ? [] : [{ index, code: codes[index], errors: messagesOf(publisher, "error") }],
    );
    expect(failures).toEqual([]);

    // Acknowledged ids: unique, and per publisher in the order it published.
    const acked: number[] = [];
    publishers.forEach((publisher, index) => {
      let ids: number[];
      if (index < unaryPublishers) {
        const acks = messagesOf(publisher, "ack");
        ids = acks.map((ack) => Number(ack.id));
        // The group gets each event once; the slow subscriber until it is cut off.
        const delivered = new Set(acks.map((ack) => ack.delivered));
        expect(
          [...delivered].every((count) => count === fast.length + 1 || count === fast.length + 2),
          `delivered counts ${[...delivered]}`,
        ).toBe(true);
      } else {
        const batches = messagesOf(publisher, "batch");
        expect(batches.map((batch) => Number(batch.sequence))).toEqual(Array.from({ length: eventsPerPublisher / streamBatch }, (_, i) => i + 1));
        ids = batches.flatMap((batch) => (batch.ids as string[]).map(Number));
      }
      expect(ids).toHaveLength(eventsPerPublisher);
      expect(countDescents(ids), `publisher ${index}: acks out of order`).toBe(0);
      acked.push(...ids);
    });
    expect(acked).toHaveLength(totalEvents);
    expect(new Set(acked).size).toBe(totalEvents);
    const ackedRanges = toRanges(acked);
    // A fresh broker with no other publisher: the ids are 1..64 000.
    expect(ackedRanges).toEqual([[1, totalEvents]]);
    const expectedPrefixes = Object.fromEntries(publishers.map((_, index) => [`p${String(index).padStart(2, "0")}-`, eventsPerPublisher]));

    // Every fast subscriber: exactly the acknowledged set, in id order, each publisher's events in its order.
    for (const [index, subscriber] of fast.entries()) {
      const summary = await summaryOf(subscriber, 60_000);
      expect(summary.received, `fast-${index}`).toBe(totalEvents);
      expect(summary.duplicates, `fast-${index}`).toBe(0);
      expect(summary.orderErrors, `fast-${index}`).toBe(0);
      expect(rangesOf(summary), `fast-${index}`).toEqual(ackedRanges);
      expect(summary.prefixes, `fast-${index}`).toEqual(expectedPrefixes);
      expect(summary.payloadOrderErrors, `fast-${index}`).toBe(0);
      expect(messagesOf(subscriber, "end")).toHaveLength(1);
    }
    phase("fast subscribers done");

    // The queue group: together every event exactly once, each member in order, round-robin.
    const progress = (member: FixtureProcess) => Number(messagesOf(member, "progress").at(-1)?.received ?? 0);
    await eventually("the group to receive every event", () => group.reduce((sum, member) => sum + progress(member), 0) >= totalEvents, 60_000).catch(() => {});
    const groupSummaries: FixtureMessage[] = [];
    for (const member of group) {
      member.child.kill("SIGTERM");
      groupSummaries.push(await summaryOf(member, 30_000));
    }
    const memberIds = groupSummaries.map((summary) => expandRanges(rangesOf(summary)));
    for (const [index, summary] of groupSummaries.entries()) {
      expect(summary.duplicates, `member-${index}`).toBe(0);
      expect(summary.orderErrors, `member-${index}`).toBe(0);
      expect(summary.payloadOrderErrors, `member-${index}`).toBe(0);
      expect(summary.received, `member-${index}: strict round-robin between two members`).toBe(totalEvents / 2);
    }
    const [first, second] = memberIds.map((ids) => new Set(ids));
    expect(
      memberIds[0].filter((id) => second.has(id)),
      "events given to both members",
    ).toEqual([]);
    expect(toRanges([...first, ...second])).toEqual(ackedRanges);
    phase("group done");

    // The slow subscriber: reading again, it gets what was in flight to it (a gapless run
    // from the first event), then RESOURCE_EXHAUSTED naming the limit.
    await slow.waitFor("paused");
    slow.child.kill("SIGUSR2");
    const cutOff = await slow.waitFor("error", 60_000);
    expect(cutOff.code).toBe(8); // Code.ResourceExhausted
    expect(cutOff.message).toMatch(new RegExp(`subscriber queue full: ${subscriberQueue} events waiting`));
    const slowSummary = await summaryOf(slow, 10_000);
    const slowReceived = Number(slowSummary.received);
    expect(slowReceived).toBeLessThan(totalEvents - subscriberQueue);
    expect(slowSummary.duplicates).toBe(0);
    expect(rangesOf(slowSummary)).toEqual([[1, slowReceived]]);
    phase("slow subscriber cut off");

    // History holds exactly the acknowledged set: replayed from event 1 by one more subscriber.
    const replay = spawn("subscriber", ["--pattern", "events.#", "--name", "replay", "--from", "1", "--max", String(totalEvents), "--summary"]);
    const history = await summaryOf(replay, 60_000);
    expect(history.received).toBe(totalEvents);
    expect(history.duplicates).toBe(0);
    expect(history.orderErrors).toBe(0);
    expect(rangesOf(history)).toEqual(ackedRanges);
    expect(history.prefixes).toEqual(expectedPrefixes);
    expect(history.payloadOrderErrors).toBe(0);
    phase("history replayed");

    // The broker's own counts.
    const statsProcess = spawn("stats", []);
    expect(await statsProcess.exited).toBe(0);
    const stats = messagesOf(statsProcess, "stats")[0] as Record<string, unknown>;
    const count = (field: string) => Number(stats[field] ?? 0);
    expect(count("eventsPublished")).toBe(totalEvents);
    expect(count("eventsStored")).toBe(totalEvents);
    expect(count("lastEventId")).toBe(totalEvents);
    expect(count("eventsEvicted")).toBe(0);
    expect(count("publishesRejected")).toBe(0);
    expect(Number((stats.journal as Record<string, unknown>).recordsAppended)).toBe(totalEvents);
    // Exactly one subscriber cut off (the slow one), with its full queue plus the event that did not fit.
    expect(count("subscribersCutOff")).toBe(1);
    expect(count("eventsDropped")).toBe(subscriberQueue + 1);
    // Deliveries: 5 fast + 1 group member per event, plus what the slow one read or had queued.
    expect(count("eventsDelivered")).toBe((fast.length + 1) * totalEvents + slowReceived + count("eventsDropped") - 1);

    const rssEnd = count("memoryRssBytes");
    const rssPeak = peakRssBytes(brokerPid);
    const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
    console.log(
      JSON.stringify({
        events: totalEvents,
        publishers: `${publisherCount} (${unaryPublishers} unary, ${publisherCount - unaryPublishers} stream × batch ${streamBatch})`,
        subscriberQueue,
        slowReceived,
        eventsDropped: count("eventsDropped"),
        rssEnd: mib(rssEnd),
        heapUsedEnd: mib(count("memoryHeapUsedBytes")),
        rssPeak: rssPeak === undefined ? "n/a (no /proc)" : mib(rssPeak),
        rssBound: mib(rssBoundBytes),
        phasesMs: phases,
      }),
    );
    expect(rssEnd).toBeGreaterThan(0);
    expect(rssEnd).toBeLessThan(rssBoundBytes);
    if (rssPeak !== undefined) expect(rssPeak).toBeLessThan(rssBoundBytes);
  }, 300_000);
});

/** The subscriber's summary line once it ended; SIGTERM (which still prints it) if it has not ended within `timeoutMs`. */
async function summaryOf(subscriber: FixtureProcess, timeoutMs: number): Promise<FixtureMessage> {
  const ended = await Promise.race([subscriber.exited.then(() => true), delay(timeoutMs).then(() => false)]);
  if (!ended) {
    subscriber.child.kill("SIGTERM");
    await subscriber.exited;
  }
  const summary = messagesOf(subscriber, "summary")[0];
  expect(summary, `no summary; last lines: ${JSON.stringify(subscriber.messages.slice(-3))}`).toBeDefined();
  return summary;
}

function rangesOf(summary: FixtureMessage): Range[] {
  return (summary.ranges as [string, string][]).map(([from, to]) => [Number(from), Number(to)]);
}

function expandRanges(ranges: Range[]): number[] {
  const ids: number[] = [];
  for (const [from, to] of ranges) for (let id = from; id <= to; id++) ids.push(id);
  return ids;
}

/** Sorted ids as runs of consecutive ids (a duplicate starts a new run, so it shows). */
function toRanges(ids: number[]): Range[] {
  const sorted = [...ids].sort((a, b) => a - b);
  const ranges: Range[] = [];
  for (const id of sorted) {
    const last = ranges.at(-1);
    if (last !== undefined && id === last[1] + 1) last[1] = id;
    else ranges.push([id, id]);
  }
  return ranges;
}

/** How many ids are not above the one before. */
function countDescents(ids: number[]): number {
  let descents = 0;
  for (let i = 1; i < ids.length; i++) if (ids[i] <= ids[i - 1]) descents++;
  return descents;
}

/** The broker's peak resident set (VmHWM) where /proc has it (Linux). */
function peakRssBytes(pid: number): number | undefined {
  try {
    const match = /^VmHWM:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match === null ? undefined : Number(match[1]) * 1024;
  } catch {
    return undefined;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
