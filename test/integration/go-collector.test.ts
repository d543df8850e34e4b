// The Go collector example (examples/go) against the real broker: a grpc-go
// client in its own process answers a task the TypeScript agent publishes.
// Build it first with examples/go/setup.sh.
import type { ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CompletionReason, CompletionStatus, type CorrelationClient, createCorrelationClient, DeliveryState } from "../../src/index.js";
import { type BrokerProcess, startBrokerProcess } from "../helpers/broker-process.js";
import { type FixtureProcess, messagesOf } from "../helpers/fixture-process.js";
import { collectorsAvailable, missingCollector, spawnLanguageCollector } from "../helpers/language-collectors.js";

const { skip } = collectorsAvailable("go-collector.test.ts", "go");
const missing = missingCollector("go");
const built = missing === undefined;

describe("Go collector (examples/go, grpc-go over the Unix socket)", () => {
  let broker: BrokerProcess | undefined;
  let agent: CorrelationClient | undefined;
  const children: ChildProcess[] = [];

  beforeEach(async () => {
    if (!built) return;
    broker = await startBrokerProcess();
    agent = createCorrelationClient({ socketPath: broker.socketPath, sourceProcess: "agent" });
  });

  afterEach(async () => {
    agent?.close();
    for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await broker?.stop();
    broker = undefined;
    agent = undefined;
  });

  async function startCollector(name: string, ...args: string[]): Promise<FixtureProcess> {
    const collector = spawnLanguageCollector("go", ["--socket", broker!.socketPath, "--name", name, ...args]);
    children.push(collector.child);
    await collector.waitFor("ready");
    return collector;
  }

  const decode = (payload: Uint8Array) => JSON.parse(new TextDecoder().decode(payload));

  it.skipIf(skip)("should answer a task with one final result that completes the agent's wait", async () => {
    expect(built, missing).toBe(true);
    const name = "go-process-monitor";
    const collector = await startCollector(name);
    const pid = collector.child.pid!;
    const investigation = `INC-GO-${randomUUID()}`;

    const task = agent!.newRootCorrelation("enumeration", { investigation_id: investigation, host: "ws-17" });
    const published = await agent!.publish("control.collector.task.process", { list: "processes" }, { correlation: task });
    expect(published.deliveredCount).toBe(1);
    expect(await collector.waitFor("task")).toEqual({
      type: "task",
      correlationId: task.correlationId,
      stage: "enumeration",
      eventId: String(published.eventId),
    });

    const answer = await agent!.service.waitForResults({ correlationId: task.correlationId, timeout: { seconds: 10n } });
    expect(answer.complete).toBe(true);
    expect(answer.reason).toBe(CompletionReason.ALL_RECIPIENTS_ANSWERED);
    expect(answer.pendingSources).toEqual([]);
    expect(answer.events).toHaveLength(1);
    const [result] = answer.events;
    expect(result.topic).toBe("events.collector.enumeration.result");
    expect(result.contentType).toBe("application/json");
    expect(decode(result.payload)).toEqual({ collector: name, language: "go", stage: "enumeration", pid });
    expect(result.publisherProcessId).toBe(pid);
    // The kernel's credentials of the connection (SO_PEERCRED) agree with the stated pid.
    expect(result.publisher?.verified).toBe(true);
    expect(result.publisher?.pid).toBe(pid);
    expect(result.publisher?.statedPid).toBe(pid);
    expect(result.publisher?.statedPidMismatch).toBe(false);
    const meta = result.correlationMetadata!;
    expect(meta.sourceProcess).toBe(name);
    expect(meta.final).toBe(true);
    expect(meta.sequenceNumber).toBe(1n);
    expect(meta.workflowStage).toBe("enumeration");
    expect(meta.correlationId).toBe(task.correlationId);
    expect(meta.rootCorrelationId).toBe(task.rootCorrelationId);
    expect(meta.parentCorrelationId).toBeUndefined();
    expect(meta.correlationTags).toEqual({ investigation_id: investigation, host: "ws-17" });
    expect(meta.startedAt).toEqual(task.startedAt);
    await collector.waitFor("answered", undefined, (line) => line.correlationId === task.correlationId);

    // Forensic search by a tag the task carried finds the task and the Go answer.
    const found = await agent!.service.findByTag({ tags: { investigation_id: investigation }, oldestFirst: true });
    expect(found.events.map((event) => event.eventId)).toEqual([published.eventId, result.eventId]);
    expect(found.events[1].correlationMetadata?.sourceProcess).toBe(name);

    // The root's timeline shows both, and the delivery to the Go collector as answered.
    const timeline = await agent!.service.getTimeline({ rootCorrelationId: task.rootCorrelationId });
    expect(timeline.events.map((event) => [event.eventId, event.topic, event.correlationMetadata?.sourceProcess])).toEqual([
      [published.eventId, "control.collector.task.process", "agent"],
      [result.eventId, "events.collector.enumeration.result", name],
    ]);
    expect(timeline.correlations).toHaveLength(1);
    const [workflow] = timeline.correlations;
    expect(workflow.status).toBe(CompletionStatus.COMPLETE);
    expect(workflow.gaps).toEqual([]);
    expect(workflow.deliveries.map((d) => [d.subscriberName, d.subscriberPid, d.state])).toEqual([[name, pid, DeliveryState.ANSWERED]]);
    expect(workflow.participants.find((p) => p.sourceProcess === name)).toMatchObject({ pid, finalSent: true, lastSequenceNumber: 1n });
  });

  it.skipIf(skip)("should answer a child step in its stage, keep the lineage and number answers per correlation", async () => {
    expect(built, missing).toBe(true);
    const name = "go-integrity";
    const collector = await startCollector(name, "--pattern", "control.collector.task.integrity");
    const root = agent!.newRootCorrelation("enumeration", { investigation_id: "INC-GO-CHILD" });
    // The root step is an event the broker has seen (else the child would be an orphan).
    await agent!.publish("events.agent.workflow.started", {}, { correlation: root });
    const child = agent!.childCorrelation(root, "integrity", { suspicious_pid: "4892" });

    await agent!.publish("control.collector.task.integrity", { step: 1 }, { correlation: child });
    const first = await agent!.service.waitForResults({ correlationId: child.correlationId, timeout: { seconds: 10n } });
    expect(first.complete).toBe(true);
    expect(first.reason).toBe(CompletionReason.ALL_RECIPIENTS_ANSWERED);
    const meta = first.events[0].correlationMetadata!;
    expect(first.events[0].topic).toBe("events.collector.integrity.result");
    expect(meta.parentCorrelationId).toBe(root.correlationId);
    expect(meta.rootCorrelationId).toBe(root.correlationId);
    expect(meta.correlationTags).toEqual({ investigation_id: "INC-GO-CHILD", suspicious_pid: "4892" });

    // A second task in the same correlation: the answer is numbered 2, no gap.
    await agent!.publish("control.collector.task.integrity", { step: 2 }, { correlation: child });
    await collector.waitFor("answered", undefined, () => messagesOf(collector, "answered").length === 2);
    const { workflow } = await agent!.service.getWorkflow({ correlationId: child.correlationId });
    expect(workflow?.participants.find((p) => p.sourceProcess === name)).toMatchObject({ eventCount: 2n, lastSequenceNumber: 2n });
    expect(workflow?.gaps).toEqual([]);
    expect(workflow?.depth).toBe(1);
    expect(workflow?.orphan).toBe(false);
  });

  it.skipIf(skip)("should report a held task without answering, and exit 0 on SIGTERM", async () => {
    expect(built, missing).toBe(true);
    const collector = await startCollector("go-holder", "--hold");
    const task = agent!.newRootCorrelation("enumeration");
    await agent!.publish("control.collector.task.process", {}, { correlation: task });
    await collector.waitFor("task", undefined, (line) => line.correlationId === task.correlationId);
    const pending = await agent!.service.waitForResults({ correlationId: task.correlationId, timeout: { seconds: 0n, nanos: 300_000_000 } });
    expect(pending.complete).toBe(false);
    expect(pending.pendingSources).toEqual(["go-holder"]);

    collector.child.kill("SIGTERM");
    expect(await collector.exited).toBe(0);
    expect(collector.messages.map((line) => line.type)).toEqual(["ready", "task"]);
  });

  it.skipIf(skip)("should print an error line and exit 1 when the subscription fails", async () => {
    expect(built, missing).toBe(true);
    // An invalid pattern: the broker refuses the Subscribe with INVALID_ARGUMENT (3).
    const refused = spawnLanguageCollector("go", ["--socket", broker!.socketPath, "--name", "go-bad", "--pattern", "Not A Pattern"]);
    children.push(refused.child);
    expect(await refused.exited).toBe(1);
    expect(refused.messages).toEqual([{ type: "error", code: 3, message: expect.stringContaining("patterns[0]") }]);

    // A broker gone for good ends it after --max-reconnects attempts in a row, each reported.
    const collector = await startCollector("go-orphaned", "--max-reconnects", "2");
    await broker!.stop();
    broker = undefined;
    expect(await collector.exited).toBe(1);
    expect(collector.messages.map((line) => line.type)).toEqual(["ready", "reconnect", "reconnect", "error"]);
    // UNAVAILABLE (14): the broker ends live streams with it when it shuts down, and no broker answers since.
    expect(messagesOf(collector, "reconnect").map((line) => [line.attempt, line.code])).toEqual([
      [1, 14],
      [2, 14],
    ]);
    expect(collector.messages.at(-1)).toMatchObject({ type: "error", code: 14, message: expect.any(String) });
  });
});
