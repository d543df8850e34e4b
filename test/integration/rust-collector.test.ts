// The Rust example collector (examples/rust, tonic gRPC) against the real broker, with the
// TypeScript client as the agent. Build it first: examples/rust/setup.sh.
import type { ChildProcess } from "node:child_process";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CompletionReason, type CorrelationClient, CompletionStatus, createCorrelationClient } from "../../src/index.js";
import { type BrokerProcess, startBrokerProcess } from "../helpers/broker-process.js";
import { type FixtureProcess, messagesOf } from "../helpers/fixture-process.js";
import { collectorsAvailable, missingCollector, spawnLanguageCollector } from "../helpers/language-collectors.js";

const { skip } = collectorsAvailable("rust-collector.test.ts", "rust");
const missing = missingCollector("rust");
const built = missing === undefined;

describe("Rust collector (tonic, gRPC over the Unix socket)", () => {
  let broker: BrokerProcess;
  let agent: CorrelationClient;
  const children: ChildProcess[] = [];

  beforeEach(async () => {
    // Outside CI a missing build skips (it.skipIf below); in CI it must fail loudly, never pass silently.
    if (!built) throw new Error(missing);
    broker = await startBrokerProcess();
    agent = createCorrelationClient({ socketPath: broker.socketPath, sourceProcess: "agent" });
  });

  afterEach(async () => {
    agent?.close();
    for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await broker?.stop();
  });

  function spawnCollector(name: string, ...args: string[]): FixtureProcess {
    const collector = spawnLanguageCollector("rust", ["--socket", broker.socketPath, "--name", name, ...args]);
    children.push(collector.child);
    return collector;
  }

  const decode = (payload: Uint8Array) => JSON.parse(new TextDecoder().decode(payload));

  it.skipIf(skip)("should answer a task with one final result the agent's wait, tag search and timeline see", async () => {
    const collector = spawnCollector("rust-monitor");
    await collector.waitFor("ready");
    const pid = collector.child.pid!;

    const task = agent.newRootCorrelation("process", { investigation_id: "INC-RUST-1" });
    const published = await agent.publish("control.collector.task.process", { list: "processes" }, { correlation: task });
    expect(published.deliveredCount).toBe(1);

    const answer = await agent.service.waitForResults({ correlationId: task.correlationId, timeout: { seconds: 10n } });
    expect(answer.complete).toBe(true);
    expect(answer.reason).toBe(CompletionReason.ALL_RECIPIENTS_ANSWERED);
    expect(answer.events).toHaveLength(1);
    const [result] = answer.events;
    expect(result.topic).toBe("events.collector.process.result");
    expect(result.contentType).toBe("application/json");
    expect(decode(result.payload)).toEqual({ collector: "rust-monitor", language: "rust", stage: "process", pid });
    expect(result.timestamp).toBeDefined();
    expect(result.publisherProcessId).toBe(pid);
    expect(result.publisher?.pid).toBe(pid);
    expect(result.publisher?.statedPid).toBe(pid);
    // The kernel vouches for the pid (SO_PEERCRED) and it agrees with the stated one.
    expect(result.publisher?.verified).toBe(true);
    expect(result.publisher?.uid).toBe(process.getuid?.());
    const meta = result.correlationMetadata!;
    expect(meta.sourceProcess).toBe("rust-monitor");
    expect(meta.final).toBe(true);
    expect(meta.sequenceNumber).toBe(1n);
    expect(meta.workflowStage).toBe("process");
    expect(meta.correlationId).toBe(task.correlationId);
    expect(meta.rootCorrelationId).toBe(task.rootCorrelationId);
    expect(meta.parentCorrelationId).toBeUndefined();
    expect(meta.correlationTags).toEqual({ investigation_id: "INC-RUST-1" });
    expect(meta.startedAt).toEqual(task.startedAt);

    expect(collector.messages).toContainEqual({ type: "task", correlationId: task.correlationId, stage: "process", eventId: String(published.eventId) });
    await collector.waitFor("answered", undefined, (line) => line.correlationId === task.correlationId);

    const found = await agent.service.findByTag({ tags: { investigation_id: "INC-RUST-1" }, oldestFirst: true });
    expect(found.events.map((event) => [event.topic, event.correlationMetadata?.sourceProcess])).toEqual([
      ["control.collector.task.process", "agent"],
      ["events.collector.process.result", "rust-monitor"],
    ]);

    const timeline = await agent.service.getTimeline({ rootCorrelationId: task.rootCorrelationId });
    expect(timeline.events.map((event) => event.eventId)).toEqual([published.eventId, result.eventId]);
    expect(timeline.correlations).toHaveLength(1);
    expect(timeline.correlations[0].status).toBe(CompletionStatus.COMPLETE);
    expect(timeline.correlations[0].deliveries.map((d) => [d.subscriberName, d.subscriberPid])).toEqual([["rust-monitor", pid]]);
    expect(timeline.correlations[0].participants.find((p) => p.sourceProcess === "rust-monitor")).toMatchObject({ pid, finalSent: true });

    collector.child.kill("SIGTERM");
    expect(await collector.exited).toBe(0);
  });

  it.skipIf(skip)("should copy a child step's parent link and number its answers per correlation", async () => {
    const collector = spawnCollector("rust-integrity", "--pattern", "control.collector.task.integrity");
    await collector.waitFor("ready");
    const root = agent.newRootCorrelation("enumeration", { investigation_id: "INC-RUST-2" });
    await agent.publish("events.agent.workflow.started", {}, { correlation: root }); // so the child is not an orphan
    const step = agent.childCorrelation(root, "integrity", { suspicious_pid: "4892" });
    // Two tasks in the same correlation: the collector answers each, numbering 1 then 2.
    await agent.publish("control.collector.task.integrity", { n: 1 }, { correlation: step });
    await collector.waitFor("answered");
    await agent.publish("control.collector.task.integrity", { n: 2 }, { correlation: step });
    await collector.waitFor("answered", undefined, () => messagesOf(collector, "answered").length === 2);

    const results = await agent.service.waitForResults({ correlationId: step.correlationId, expectedResults: 2, timeout: { seconds: 10n } });
    expect(results.complete).toBe(true);
    expect(results.events.map((event) => event.correlationMetadata?.sequenceNumber)).toEqual([1n, 2n]);
    for (const event of results.events) {
      expect(event.correlationMetadata).toMatchObject({
        parentCorrelationId: root.correlationId,
        rootCorrelationId: root.correlationId,
        workflowStage: "integrity",
        correlationTags: { investigation_id: "INC-RUST-2", suspicious_pid: "4892" },
      });
    }
    const { workflow } = await agent.service.getWorkflow({ correlationId: step.correlationId });
    expect(workflow?.gaps).toEqual([]);
    expect(workflow?.orphan).toBe(false);
  });

  it.skipIf(skip)("should only report a task with --hold, leaving the wait pending, and exit 0 on SIGINT", async () => {
    const collector = spawnCollector("rust-holder", "--hold");
    await collector.waitFor("ready");
    const task = agent.newRootCorrelation("memory");
    await agent.publish("control.collector.task.memory", {}, { correlation: task });
    await collector.waitFor("task", undefined, (line) => line.correlationId === task.correlationId);

    const answer = await agent.service.waitForResults({ correlationId: task.correlationId, timeout: { nanos: 300_000_000 } });
    expect(answer.complete).toBe(false);
    expect(answer.reason).toBe(CompletionReason.DEADLINE);
    expect(answer.pendingSources).toEqual(["rust-holder"]);
    expect(collector.messages.some((line) => line.type === "answered")).toBe(false);

    collector.child.kill("SIGINT");
    expect(await collector.exited).toBe(0);
  });

  it.skipIf(skip)("should print an error line and exit 1 when the broker stays away past --max-reconnects attempts", async () => {
    const collector = spawnCollector("rust-orphan", "--max-reconnects", "2");
    await collector.waitFor("ready");
    await broker.stop();
    const error = await collector.waitFor("error");
    expect(error.code).toBe(14); // UNAVAILABLE: the broker drains subscriptions with it on SIGTERM, and none answers since
    expect(typeof error.message).toBe("string");
    expect(await collector.exited).toBe(1);
    expect(collector.messages.map((line) => line.type)).toEqual(["ready", "reconnect", "reconnect", "error"]);
    expect(messagesOf(collector, "reconnect").map((line) => line.attempt)).toEqual([1, 2]);
  });
});
