import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type CorrelationClient, createCorrelationClient, publishOnce } from "../../src/index.js";
import { type BrokerProcess, cliPath, repoRoot, startBrokerProcess } from "../helpers/broker-process.js";
import { eventually } from "../helpers/eventually.js";
import { type FixtureProcess, messagesOf, spawnFixture } from "../helpers/fixture-process.js";
import { type LineProcess, idRanges, spawnLines } from "../helpers/line-process.js";

// Every TS client of a broker that is killed (SIGKILL) or stopped (SIGTERM)
// under load, then restarted on the same socket and data directory, resumes
// by itself: subscribers (library over Connect and gRPC, `corrbus subscribe`)
// replay from the last event they saw and end up with every stored event
// exactly once; the example collector answers every task exactly once; a
// publisher retries; `corrbus wait` waits again and completes.

/** Every stored event on `pattern` up to and including event `last`, replayed from the broker's history. */
async function storedEvents(client: CorrelationClient, pattern: string, last: bigint): Promise<bigint[]> {
  const ids: bigint[] = [];
  const replay = client.subscribe([pattern], { fromEventId: 1n, reconnect: false });
  for await (const event of replay) {
    ids.push(event.eventId);
    if (event.eventId >= last) break;
  }
  return ids;
}

/** The result events under tag run=`run`, by task correlation and answering source. */
async function answersByTask(client: CorrelationClient, run: string): Promise<Map<string, string[]>> {
  const answers = new Map<string, string[]>();
  let pageToken = "";
  do {
    const page = await client.service.findByTag({ tags: { run }, topicPattern: "events.collector.#", limit: 1000, pageToken, omitPayloads: true });
    for (const event of page.events) {
      const meta = event.correlationMetadata;
      if (meta === undefined) continue;
      answers.set(meta.correlationId, [...(answers.get(meta.correlationId) ?? []), meta.sourceProcess]);
    }
    pageToken = page.nextPageToken;
  } while (pageToken !== "");
  return answers;
}

describe("TS clients across a broker crash and restart", () => {
  const cleanup: (() => Promise<unknown> | void)[] = [];

  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  for (const signal of ["SIGKILL", "SIGTERM"] as const) {
    it(`should resume every client by itself after ${signal}: every subscriber sees every event once, every task is answered once`, async () => {
      const directory = mkdtempSync(join(tmpdir(), "corrbus-crash-"));
      cleanup.push(() => rmSync(directory, { recursive: true, force: true }));
      const socket = join(directory, "run", "corrbus.sock");
      const dataDir = join(directory, "data");
      const env = { ...process.env, CORRBUS_SOCKET: socket };
      const started: BrokerProcess[] = [];
      const startBroker = async () => {
        const broker = await startBrokerProcess(["--data-dir", dataDir], socket);
        started.push(broker);
        return broker;
      };
      cleanup.push(async () => {
        for (const broker of started) await broker.stop();
      });
      const children: ChildProcess[] = [];
      cleanup.push(() => {
        for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      });
      const fixture = (name: string, args: string[]): FixtureProcess => {
        const process = spawnFixture(name, args);
        children.push(process.child);
        return process;
      };
      const lines = (command: string, args: string[]): LineProcess => {
        const process = spawnLines(command, args, env);
        children.push(process.child);
        return process;
      };

      const first = await startBroker();
      const agent = createCorrelationClient({ socketPath: socket, sourceProcess: "crash-agent" });
      cleanup.push(() => agent.close());
      const run = `${signal}-${process.pid}`;

      // Subscribers: the library over Connect and over gRPC, and the CLI.
      const subscribers = ["connect", "grpc"].map((protocol) =>
        fixture("subscriber", [
          "--socket",
          socket,
          "--pattern",
          "events.load.#",
          "--reconnect",
          "--summary",
          "--protocol",
          protocol,
          "--name",
          `load-${protocol}`,
        ]),
      );
      const cliSubscriber = lines(process.execPath, [cliPath, "subscribe", "events.load.#", "--json"]);
      const collector = lines(process.execPath, [join(repoRoot, "dist/examples/typescript/collector.js"), "ts-collector"]);
      await Promise.all(subscribers.map((subscriber) => subscriber.waitFor("ready")));
      await collector.out.waitFor((line) => line === "ts-collector: waiting for tasks", 15_000);
      // The CLI prints nothing when it is registered (stdout is not a TTY): publish until it shows an event.
      await eventually(
        "the CLI subscriber's first event",
        () => {
          void agent.publish("events.load.warmup", "w");
          return cliSubscriber.out.lines.length > 0;
        },
        15_000,
      );

      // A waiter whose correlation gets one result before the crash and one after.
      const waited = agent.newRootCorrelation("waited", { run });
      await agent.publish("events.waited.start", "s", { correlation: waited });
      const waiter = lines(process.execPath, [
        cliPath,
        "wait",
        waited.correlationId,
        "--expected-results",
        "2",
        "--topic-pattern",
        "events.waited.result",
        "--timeout",
        "60s",
      ]);
      await agent.publish("events.waited.result", "1", { correlation: waited });

      // Load: a publisher that retries, and tasks for the collector every 20 ms.
      const publisher = fixture("publisher", ["--socket", socket, "--topic", "events.load.tick", "--count", "1500", "--retry", "--quiet", "--delay-ms", "1"]);
      const tasks: string[] = [];
      let stopTasks = false;
      const taskLoop = (async () => {
        while (!stopTasks) {
          const task = agent.newRootCorrelation("enumeration", { run });
          await publishOnce(
            agent,
            "control.collector.task.process",
            { action: "list-processes" },
            { correlation: task, retry: { firstDelayMs: 20, maxDelayMs: 200 } },
          );
          tasks.push(task.correlationId);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      })();

      await eventually("300 events under load before the crash", () => messagesOf(subscribers[0], "progress").some((p) => Number(p.received) >= 300), 30_000);
      if (signal === "SIGKILL") await first.kill();
      else await first.stop();
      // Every client notices and retries by itself while the broker is down.
      await Promise.all(subscribers.map((subscriber) => subscriber.waitFor("reconnect")));
      await publisher.waitFor("retry");
      await cliSubscriber.err.waitFor((line) => line.includes("subscribing again"), 15_000);
      await collector.out.waitFor((line) => line.includes("subscribing again"), 15_000);
      await waiter.err.waitFor((line) => line.includes("waiting again"), 15_000);

      await startBroker();
      expect(await publisher.exited).toBe(0);
      await agent.publish("events.waited.result", "2", { correlation: waited });
      expect(await waiter.exited).toBe(0);
      expect(waiter.out.lines[0]).toMatch(/^outcome\s+complete/);
      stopTasks = true;
      await taskLoop;

      // The end marker: once a subscriber has it, it has everything before it.
      const marker = await agent.publish("events.load.end", "end");
      const truth = await storedEvents(agent, "events.load.#", marker.eventId);
      expect(truth.length).toBeGreaterThan(1500);
      await eventually(
        "every subscriber at the end marker",
        () => subscribers.every((s) => messagesOf(s, "progress").some((p) => Number(p.received) >= truth.length)),
        30_000,
      );
      await eventually("the CLI subscriber at the end marker", () => cliSubscriber.out.lines.some((line) => line.includes('"events.load.end"')), 30_000);
      for (const subscriber of subscribers) subscriber.child.kill("SIGTERM");
      for (const subscriber of subscribers) {
        expect(await subscriber.exited).toBe(0);
        const [summary] = messagesOf(subscriber, "summary");
        expect(summary).toMatchObject({ received: truth.length, duplicates: 0, orderErrors: 0, ranges: idRanges(truth) });
        expect(messagesOf(subscriber, "error")).toEqual([]);
      }
      // The CLI subscribed live, after the first warmup events: from its first event on, it has every one, once.
      const cliIds = cliSubscriber.out.lines.map((line) => BigInt((JSON.parse(line) as { event_id: string }).event_id));
      expect(cliIds.length).toBeGreaterThan(1500);
      expect(cliIds).toEqual(truth.filter((id) => id >= cliIds[0]));

      // Every task stored was answered by the collector exactly once, nothing else was answered.
      const answers = await answersByTask(agent, run);
      expect(tasks.length).toBeGreaterThan(10);
      const wrong = tasks.filter((task) => JSON.stringify(answers.get(task)) !== JSON.stringify(["ts-collector"]));
      expect(wrong.map((task) => ({ task, answers: answers.get(task) }))).toEqual([]);
      expect([...answers.keys()].filter((task) => !tasks.includes(task))).toEqual([]);

      // Still running, having resumed by itself: the collector and the CLI subscriber.
      expect([collector.child.exitCode, cliSubscriber.child.exitCode]).toEqual([null, null]);
      collector.child.kill("SIGTERM");
      cliSubscriber.child.kill("SIGINT");
      expect(await collector.exited).toBe(0);
      expect(await cliSubscriber.exited).toBe(0);
    });
  }
});
