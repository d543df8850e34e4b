import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { toJson } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import {
  CompletionStatus,
  type CorrelationClient,
  DeliveryState,
  type EventEnvelope,
  type WorkflowState,
  WorkflowStateSchema,
  createCorrelationClient,
  publishOnce,
} from "../../src/index.js";
import { type BrokerProcess, cliPath, repoRoot, startBrokerProcess } from "../helpers/broker-process.js";
import { eventually } from "../helpers/eventually.js";
import { type FixtureProcess, messagesOf, spawnFixture } from "../helpers/fixture-process.js";
import { type Language, collectorsAvailable, spawnLanguageCollector } from "../helpers/language-collectors.js";
import { type LineProcess, idRanges, spawnLines } from "../helpers/line-process.js";

// Issue 14, every client across a broker crash: a TS agent, the example
// collectors in TypeScript, Python, Go and Rust, and `corrbus subscribe`, each
// its own process, with the broker killed (SIGKILL) or stopped (SIGTERM) and
// started again on the same socket and data directory. Every client resumes
// by itself; a collector mid-answer when the broker dies answers once;
// GetWorkflow after the restart tells what happened before the crash as it
// did before; every subscriber sees every stored event exactly once. Then the
// same checks through 10 restarts under load.

const languages: Language[] = ["python", "go", "rust"];
const { skip } = collectorsAvailable("polyglot-crash-survival.test.ts", ...languages);

type Kind = "typescript" | Language;
const kinds: Kind[] = ["typescript", ...languages];

/** An example collector as the test sees it, whatever its language. */
interface CollectorProcess {
  readonly kind: Kind;
  readonly name: string;
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  ready(): Promise<void>;
  /** The tasks it answered, in order: correlation id and whether the broker turned out to hold the answer already. */
  answers(): { correlationId: string; alreadyStored: boolean }[];
  /** The event ids of the tasks it reported, in order (the TypeScript example reports answers only: undefined). */
  taskEventIds(): string[] | undefined;
  /** Publish attempts it retried. */
  publishRetries(): number;
  /** Re-subscription attempts. */
  reconnects(): number;
  /** Subscriptions made again (the TypeScript example does not report them: undefined). */
  resumes(): number | undefined;
  /** Errors it reported. */
  errors(): unknown[];
  /** What it printed last (for a failure's message). */
  lastLines(): string[];
}

function typescriptCollector(socket: string, name: string, workMs: number): CollectorProcess {
  const lines = spawnLines(process.execPath, [join(repoRoot, "dist/examples/typescript/collector.js"), name, String(workMs)], {
    ...process.env,
    CORRBUS_SOCKET: socket,
  });
  const answered = new RegExp(`^${name}: answered \\S+ (\\S+)( \\(stored before the broker went away\\))?$`);
  return {
    kind: "typescript",
    name,
    child: lines.child,
    exited: lines.exited,
    ready: async () => void (await lines.out.waitFor((line) => line === `${name}: waiting for tasks`, 15_000)),
    answers: () =>
      lines.out.lines.flatMap((line) => {
        const match = answered.exec(line);
        return match === null ? [] : [{ correlationId: match[1], alreadyStored: match[2] !== undefined }];
      }),
    taskEventIds: () => undefined,
    publishRetries: () => lines.out.lines.filter((line) => line.includes("publishing again")).length,
    reconnects: () => lines.out.lines.filter((line) => line.includes("subscribing again")).length,
    resumes: () => undefined,
    errors: () => lines.err.lines,
    lastLines: () => [...lines.out.lines.slice(-5), ...lines.err.lines.slice(-3)],
  };
}

function languageCollector(language: Language, socket: string, name: string, workMs: number): CollectorProcess {
  const fixture: FixtureProcess = spawnLanguageCollector(language, ["--socket", socket, "--name", name, "--work-ms", String(workMs)]);
  return {
    kind: language,
    name,
    child: fixture.child,
    exited: fixture.exited,
    ready: async () => void (await fixture.waitFor("ready")),
    answers: () => messagesOf(fixture, "answered").map((m) => ({ correlationId: String(m.correlationId), alreadyStored: m.alreadyStored === true })),
    taskEventIds: () => messagesOf(fixture, "task").map((m) => String(m.eventId)),
    publishRetries: () => messagesOf(fixture, "retry").length,
    reconnects: () => messagesOf(fixture, "reconnect").length,
    resumes: () => messagesOf(fixture, "resumed").length,
    errors: () => messagesOf(fixture, "error"),
    lastLines: () => fixture.messages.slice(-5).map((message) => JSON.stringify(message)),
  };
}

/** Every stored event up to and including event `last`, replayed from the (restarted) broker's history. */
async function storedEvents(client: CorrelationClient, last: bigint): Promise<EventEnvelope[]> {
  const events: EventEnvelope[] = [];
  const replay = client.subscribe(["#"], { fromEventId: 1n, reconnect: false });
  for await (const event of replay) {
    events.push(event);
    if (event.eventId >= last) break;
  }
  return events;
}

function asJson(workflow: WorkflowState | undefined): Record<string, unknown> {
  return toJson(WorkflowStateSchema, workflow as WorkflowState) as Record<string, unknown>;
}

type Json = Record<string, unknown>;
const byName = (key: string) => (a: Json, b: Json) => String(a[key]).localeCompare(String(b[key]));

/** The test's processes and temporary directory, cleaned up after each test. */
class Scene {
  readonly directory = mkdtempSync(join(tmpdir(), "corrbus-polyglot-crash-"));
  readonly socket = join(this.directory, "run", "corrbus.sock");
  readonly dataDir = join(this.directory, "data");
  readonly env = { ...process.env, CORRBUS_SOCKET: this.socket };
  readonly brokers: BrokerProcess[] = [];
  readonly children: ChildProcess[] = [];
  readonly clients: CorrelationClient[] = [];

  get broker(): BrokerProcess {
    return this.brokers[this.brokers.length - 1];
  }

  async startBroker(): Promise<BrokerProcess> {
    const broker = await startBrokerProcess(["--data-dir", this.dataDir], this.socket);
    this.brokers.push(broker);
    return broker;
  }

  /** Ends the broker by `signal`, as a crash (SIGKILL) or a stop (SIGTERM). */
  async endBroker(signal: "SIGKILL" | "SIGTERM"): Promise<void> {
    if (signal === "SIGKILL") await this.broker.kill();
    else expect(await this.broker.stop()).toBe(0);
  }

  client(sourceProcess: string): CorrelationClient {
    const client = createCorrelationClient({ socketPath: this.socket, sourceProcess });
    this.clients.push(client);
    return client;
  }

  collector(kind: Kind, workMs = 0): CollectorProcess {
    const name = `${kind}-collector`;
    const collector = kind === "typescript" ? typescriptCollector(this.socket, name, workMs) : languageCollector(kind, this.socket, name, workMs);
    this.children.push(collector.child);
    return collector;
  }

  fixture(name: string, args: string[]): FixtureProcess {
    const fixture = spawnFixture(name, ["--socket", this.socket, ...args]);
    this.children.push(fixture.child);
    return fixture;
  }

  /** `corrbus subscribe PATTERN --from 1 --json`: every stored event on PATTERN, from the first. */
  cliSubscribe(pattern: string): LineProcess {
    const cli = spawnLines(process.execPath, [cliPath, "subscribe", pattern, "--from", "1", "--json"], this.env);
    this.children.push(cli.child);
    return cli;
  }

  async cleanup(): Promise<void> {
    for (const client of this.clients) client.close();
    for (const child of this.children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    for (const broker of this.brokers) await broker.stop();
    rmSync(this.directory, { recursive: true, force: true });
  }
}

/** Waits until every collector answered more tasks than `marks` says; a timeout names those that did not, with their last lines. */
async function everyAnswering(collectors: CollectorProcess[], marks: number[], what: string): Promise<void> {
  try {
    await eventually(what, () => collectors.every((c, i) => c.answers().length > marks[i]), 30_000);
  } catch (error) {
    const silent = collectors.filter((c, i) => c.answers().length <= marks[i]).map((c) => `${c.name}: ${c.lastLines().join(" | ")}`);
    throw new Error(`${(error as Error).message}; not answering: ${silent.join("; ")}`);
  }
}

/** The event ids the CLI subscriber printed. */
function cliEventIds(cli: LineProcess): string[] {
  return cli.out.lines.map((line) => String((JSON.parse(line) as { event_id: string }).event_id));
}

/** Ends every collector (SIGTERM) and the CLI subscriber (SIGINT, Ctrl-C): each exits 0, having reported no error. */
async function stopClients(collectors: CollectorProcess[], cli: LineProcess): Promise<void> {
  expect([...collectors.map((c) => c.child.exitCode), cli.child.exitCode]).toEqual([...collectors.map(() => null), null]);
  for (const collector of collectors) collector.child.kill("SIGTERM");
  cli.child.kill("SIGINT");
  expect(await Promise.all([...collectors.map((c) => c.exited), cli.exited])).toEqual([...collectors.map(() => 0), 0]);
  expect(Object.fromEntries(collectors.map((c) => [c.name, c.errors()]))).toEqual(Object.fromEntries(collectors.map((c) => [c.name, []])));
}

describe("every client across broker crashes: TS agent, collectors in TypeScript, Python, Go and Rust, `corrbus subscribe`", () => {
  let scene: Scene;
  afterEach(async () => {
    await scene?.cleanup();
  });

  describe("a delivery-tracked workflow half done when the broker goes away", () => {
    // Two collectors answer at once, two are still working on the task when the broker goes away;
    // which ones alternates, so every language is once mid-answer.
    const cases: ["SIGKILL" | "SIGTERM", Kind[]][] = [
      ["SIGKILL", ["python", "rust"]],
      ["SIGTERM", ["typescript", "go"]],
    ];
    for (const [signal, holders] of cases) {
      it.skipIf(skip)(
        `should complete a half-done workflow after ${signal} with every client resuming by itself, ${holders.join(" and ")} answering mid-crash once, and every event seen once`,
        async () => {
          scene = new Scene();
          await scene.startBroker();
          // Long enough for the prompt answers, the snapshot and the crash to come first on a busy machine.
          const workMs = 4000;
          const collectors = kinds.map((kind) => scene.collector(kind, holders.includes(kind) ? workMs : 0));
          const prompt = collectors.filter((c) => !holders.includes(c.kind));
          const holding = collectors.filter((c) => holders.includes(c.kind));
          const cli = scene.cliSubscribe("events.#");
          await Promise.all(collectors.map((c) => c.ready()));

          // The TS agent hands out a delivery-tracked task and waits.
          const agent = scene.fixture("agent", ["--name", "ts-agent", "--tag", `run=${signal}`]);
          const published = await agent.waitFor("published");
          expect(published.delivered).toBe(4);
          const task = String(published.correlationId);
          // Half done: the prompt collectors answered, the holding ones have the task and are working on it.
          await eventually("the prompt collectors' answers", () => prompt.every((c) => c.answers().length === 1), 15_000);
          await eventually("the holding collectors' tasks", () => holding.every((c) => c.taskEventIds()?.length !== 0), 15_000);
          const observer = scene.client("observer");
          const before = asJson((await observer.service.getWorkflow({ correlationId: task })).workflow);
          expect(before.status).toBe("COMPLETION_STATUS_PENDING");
          expect(Object.fromEntries((before.deliveries as Json[]).map((d) => [d.subscriberName, d.state]))).toEqual(
            Object.fromEntries(collectors.map((c) => [c.name, holders.includes(c.kind) ? "DELIVERY_STATE_PENDING" : "DELIVERY_STATE_ANSWERED"])),
          );

          await scene.endBroker(signal);
          // With the broker gone every client retries by itself: the holding collectors' answers,
          // the other collectors' and the CLI's subscriptions, the agent's wait.
          await eventually("the holding collectors retrying their answers", () => holding.every((c) => c.publishRetries() > 0), 15_000);
          await eventually("the prompt collectors subscribing again", () => prompt.every((c) => c.reconnects() > 0), 15_000);
          await cli.err.waitFor((line) => line.includes("subscribing again"), 15_000);
          await agent.waitFor("wait-again");
          expect(holding.map((c) => c.answers())).toEqual(holding.map(() => []));

          await scene.startBroker();
          const outcome = await agent.waitFor("outcome", 30_000);
          expect(outcome).toMatchObject({ complete: true, reason: "ALL_RECIPIENTS_ANSWERED", sources: collectors.map((c) => c.name).sort() });
          expect(await agent.exited).toBe(0);
          // Published once, after the restart (the broker held nothing of it: the attempts failed to connect).
          expect(holding.map((c) => c.answers())).toEqual(holding.map(() => [{ correlationId: task, alreadyStored: false }]));

          // What happened before the crash, as the restarted broker tells it: field by field as before.
          const after = asJson((await observer.service.getWorkflow({ correlationId: task })).workflow);
          for (const field of ["correlationId", "parentCorrelationId", "rootCorrelationId", "depth", "orphan", "gaps", "firstEventAt", "childCorrelationIds"]) {
            expect(after[field], field).toEqual(before[field]);
          }
          const stageStart = (state: Json) => (state.stages as Json[]).map(({ name, firstEventAt }) => ({ name, firstEventAt }));
          expect(stageStart(after)).toEqual(stageStart(before));
          const participantsBefore = (before.participants as Json[]).sort(byName("sourceProcess"));
          const namesBefore = new Set(participantsBefore.map((p) => p.sourceProcess));
          expect(participantsBefore.map((p) => p.sourceProcess)).toEqual(["ts-agent", ...prompt.map((c) => c.name)].sort());
          expect((after.participants as Json[]).filter((p) => namesBefore.has(p.sourceProcess)).sort(byName("sourceProcess"))).toEqual(participantsBefore);
          // Since then: the holders' answers, once each, and the deliveries they answered.
          expect(Number(after.totalEvents)).toBe(Number(before.totalEvents) + holding.length);
          expect((after.participants as Json[]).filter((p) => !namesBefore.has(p.sourceProcess)).sort(byName("sourceProcess"))).toEqual(
            holding
              .map((c) => ({ sourceProcess: c.name, pid: c.child.pid, verified: true, eventCount: "1", finalSent: true, lastSequenceNumber: "1" }))
              .sort(byName("sourceProcess")),
          );
          expect((after.deliveries as Json[]).sort(byName("subscriberName"))).toEqual(
            (before.deliveries as Json[])
              .map((d) => (holders.some((kind) => d.subscriberName === `${kind}-collector`) ? { ...d, state: "DELIVERY_STATE_ANSWERED" } : d))
              .sort(byName("subscriberName")),
          );
          expect(after.status).toBe("COMPLETION_STATUS_COMPLETE");

          // Every collector is subscribed again by itself (the holders once their answer is out): a task
          // after the restart reaches all four, and all four answer.
          let subscribers = 0;
          await eventually(
            "the four collectors and the CLI subscribed again",
            () => {
              void observer.service.getStats({}).then((stats) => (subscribers = stats.subscribers));
              return subscribers === collectors.length + 1;
            },
            15_000,
          );
          const second = scene.fixture("agent", ["--name", "ts-agent-2", "--tag", `run=${signal}`]);
          expect(await second.waitFor("published")).toMatchObject({ delivered: 4 });
          expect(await second.waitFor("outcome", 30_000)).toMatchObject({ complete: true, reason: "ALL_RECIPIENTS_ANSWERED" });
          const secondTask = String((await second.waitFor("published")).correlationId);

          // Every subscriber saw every stored event on its pattern exactly once, in order.
          const marker = await observer.publish("events.test.end", "end");
          const stored = await storedEvents(observer, marker.eventId);
          const ids = (pattern: RegExp) => stored.filter((event) => pattern.test(event.topic)).map((event) => String(event.eventId));
          const tasks = ids(/^control\.collector\.task\./);
          expect(tasks).toHaveLength(2);
          await eventually("the CLI subscriber at the end marker", () => cliEventIds(cli).includes(String(marker.eventId)), 15_000);
          expect(exactlyOnce(cliEventIds(cli), ids(/^events\./))).toEqual(once);
          for (const collector of collectors) {
            if (collector.kind !== "typescript") expect(exactlyOnce(collector.taskEventIds() ?? [], tasks), collector.name).toEqual(once);
            expect(
              collector.answers().map((a) => a.correlationId),
              collector.name,
            ).toEqual([task, secondTask]);
          }
          await stopClients(collectors, cli);
        },
        60_000,
      );
    }
  });

  describe("10 restarts under load", () => {
    it.skipIf(skip)(
      "should keep every client exactly once through 10 restarts under load, alternating SIGKILL and SIGTERM",
      async () => {
        scene = new Scene();
        await scene.startBroker();
        const collectors = kinds.map((kind) => scene.collector(kind));
        const subscriber = scene.fixture("subscriber", ["--pattern", "events.load.#", "--reconnect", "--summary", "--name", "load-ts"]);
        const cli = scene.cliSubscribe("events.#");
        await Promise.all([...collectors.map((c) => c.ready()), subscriber.waitFor("ready")]);

        // Load: a publisher that retries (at least once: the truth is what the broker stored), and a
        // task for the collectors every 100 ms, each published once.
        const publisher = scene.fixture("publisher", ["--topic", "events.load.tick", "--count", "100000", "--retry", "--quiet", "--delay-ms", "2"]);
        const agent = scene.client("loop-agent");
        const tasks: string[] = [];
        let stopTasks = false;
        const taskLoop = (async () => {
          while (!stopTasks) {
            const task = agent.newRootCorrelation("enumeration", { run: "loop" });
            await publishOnce(
              agent,
              "control.collector.task.process",
              { action: "list-processes" },
              { correlation: task, retry: { firstDelayMs: 20, maxDelayMs: 200 } },
            );
            tasks.push(task.correlationId);
            await new Promise((resolve) => setTimeout(resolve, 100));
          }
        })();

        const received = () => Number(messagesOf(subscriber, "progress").at(-1)?.received ?? 0);
        let subscribers = 0;
        for (let restart = 1; restart <= 10; restart++) {
          // Up: every subscriber is subscribed to this broker (a collector can finish an answer it
          // started before the restart without), load flows, and every collector answers a task
          // handed out since the last restart.
          const [loadMark, answersMark, reconnectMark] = [received(), collectors.map((c) => c.answers().length), messagesOf(subscriber, "reconnect").length];
          subscribers = 0; // a count from the broker before would not do
          await eventually(
            `every subscriber subscribed after restart ${restart - 1}`,
            () => {
              void agent.service.getStats({}).then(
                (stats) => (subscribers = stats.subscribers),
                () => {},
              );
              return subscribers === collectors.length + 2;
            },
            30_000,
          );
          await eventually(`load after restart ${restart - 1}`, () => received() >= loadMark + 100, 30_000);
          await everyAnswering(collectors, answersMark, `every collector answering after restart ${restart - 1}`);
          await scene.endBroker(restart % 2 === 1 ? "SIGKILL" : "SIGTERM");
          await eventually(`the subscriber noticing stop ${restart}`, () => messagesOf(subscriber, "reconnect").length > reconnectMark, 15_000);
          await scene.startBroker();
        }
        const answersMark = collectors.map((c) => c.answers().length);
        await everyAnswering(collectors, answersMark, "every collector answering after the last restart");
        stopTasks = true;
        await taskLoop;
        publisher.child.kill("SIGTERM");
        await publisher.exited;
        // Nothing is published after the end marker: every collector has answered every task.
        await eventually("every collector's last answer", () => collectors.every((c) => c.answers().at(-1)?.correlationId === tasks.at(-1)), 30_000);

        const marker = await agent.publish("events.load.end", "end");
        const stored = await storedEvents(agent, marker.eventId);
        const ids = (pattern: RegExp) => stored.filter((event) => pattern.test(event.topic)).map((event) => event.eventId);
        const load = ids(/^events\.load\./);
        expect(load.length).toBeGreaterThan(1000);
        await eventually("the TS subscriber at the end marker", () => received() >= load.length, 30_000);
        await eventually("the CLI subscriber at the end marker", () => cliEventIds(cli).includes(String(marker.eventId)), 30_000);

        subscriber.child.kill("SIGTERM");
        expect(await subscriber.exited).toBe(0);
        const [summary] = messagesOf(subscriber, "summary");
        expect(summary).toMatchObject({ received: load.length, duplicates: 0, orderErrors: 0 });
        expect(summary.ranges).toEqual(idRanges(load));
        expect(exactlyOnce(cliEventIds(cli), ids(/^events\./).map(String))).toEqual(once);
        const taskIds = ids(/^control\.collector\.task\./).map(String);
        expect(taskIds).toHaveLength(tasks.length);
        for (const collector of collectors) {
          // Each collector noticed every restart and resumed by itself.
          expect(collector.reconnects(), collector.name).toBeGreaterThanOrEqual(10);
          expect(collector.resumes() ?? 10, collector.name).toBeGreaterThanOrEqual(10);
          if (collector.kind !== "typescript") expect(exactlyOnce(collector.taskEventIds() ?? [], taskIds), collector.name).toEqual(once);
          expect(
            exactlyOnce(
              collector.answers().map((a) => a.correlationId),
              tasks,
            ),
            collector.name,
          ).toEqual(once);
        }
        // The broker holds one answer per collector per task, nothing twice.
        for (const task of tasks) {
          const { workflow } = await agent.service.getWorkflow({ correlationId: task });
          const answers = workflow?.participants.filter((p) => p.sourceProcess !== "loop-agent").map((p) => `${p.sourceProcess}:${p.eventCount}`);
          expect(answers?.sort(), task).toEqual(collectors.map((c) => `${c.name}:1`).sort());
          // Every delivery answered; a task handed out while every collector was reconnecting went to
          // nobody live (they replayed it), so it is not delivery-tracked: OPEN.
          const deliveries = workflow?.deliveries ?? [];
          expect(
            deliveries.filter((delivery) => delivery.state !== DeliveryState.ANSWERED),
            task,
          ).toEqual([]);
          expect(workflow?.status, task).toBe(deliveries.length > 0 ? CompletionStatus.COMPLETE : CompletionStatus.OPEN);
        }
        await stopClients(collectors, cli);
      },
      120_000,
    );
  });
});

/**
 * How `seen` differs from `truth` (both event ids): ids missed, ids seen more
 * than once, ids seen that were never stored (the first 10 of each), and
 * whether the rest came in stored order. All empty and in order: exactly once.
 */
function exactlyOnce(seen: string[], truth: string[]): { missing: string[]; repeated: string[]; unknown: string[]; inOrder: boolean } {
  const stored = new Set(truth);
  const counts = new Map<string, number>();
  for (const id of seen) counts.set(id, (counts.get(id) ?? 0) + 1);
  return {
    missing: truth.filter((id) => !counts.has(id)).slice(0, 10),
    repeated: [...counts]
      .filter(([, count]) => count > 1)
      .map(([id]) => id)
      .slice(0, 10),
    unknown: seen.filter((id) => !stored.has(id)).slice(0, 10),
    inOrder: [...new Set(seen)].filter((id) => stored.has(id)).join() === truth.filter((id) => counts.has(id)).join(),
  };
}

const once = { missing: [], repeated: [], unknown: [], inOrder: true };
