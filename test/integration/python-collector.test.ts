// The Python example (examples/python, grpcio over the Unix socket) against the real broker:
// the collector contract with the TypeScript client as the agent, then two Python
// collectors and the Python agent, all separate processes.
import type { ChildProcess } from "node:child_process";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CompletionReason, CompletionStatus, type CorrelationClient, createCorrelationClient } from "../../src/index.js";
import { type BrokerProcess, startBrokerProcess } from "../helpers/broker-process.js";
import { type FixtureProcess, messagesOf, spawnProcess } from "../helpers/fixture-process.js";
import { collectorsAvailable, missingCollector, pythonCommand, pythonScript, spawnLanguageCollector } from "../helpers/language-collectors.js";

const { skip } = collectorsAvailable("python-collector.test.ts", "python");
const missingMessage = missingCollector("python");
const built = missingMessage === undefined;

/**
 * agent.py as its own process. Not through spawnProcess: besides its JSON lines it prints
 * a plain-text workflow tree, and spawnProcess parses every line as JSON.
 */
describe("Python example (grpcio) against the broker", () => {
  let broker: BrokerProcess;
  let agent: CorrelationClient;
  const started: { child: ChildProcess }[] = [];

  beforeEach(async () => {
    // Outside CI a missing build skips (it.skipIf below); in CI every test fails loudly.
    if (!built) throw new Error(missingMessage);
    broker = await startBrokerProcess();
    agent = createCorrelationClient({ socketPath: broker.socketPath, sourceProcess: "agent" });
  });

  afterEach(async () => {
    if (!built) return;
    agent.close();
    for (const program of started.splice(0)) if (program.child.exitCode === null && program.child.signalCode === null) program.child.kill("SIGKILL");
    await broker.stop();
  });

  async function collector(name: string, ...args: string[]): Promise<FixtureProcess> {
    const program = spawnLanguageCollector("python", ["--socket", broker.socketPath, "--name", name, ...args]);
    started.push(program);
    await program.waitFor("ready");
    return program;
  }

  it.skipIf(skip)("should answer a task by the collector contract: final result, its name and pid, found by tag and in the timeline", async () => {
    const name = "py-process-monitor";
    const program = await collector(name);
    const pid = program.child.pid!;

    const task = agent.newRootCorrelation("enumeration", { investigation_id: "INC-PY-T1", host: "h1" });
    const published = await agent.publish("control.collector.task.process", { list: "processes" }, { correlation: task });
    expect(published.deliveredCount).toBe(1);
    expect(await program.waitFor("task")).toEqual({
      type: "task",
      correlationId: task.correlationId,
      stage: "enumeration",
      eventId: String(published.eventId),
    });

    const answer = await agent.service.waitForResults({ correlationId: task.correlationId, timeout: { seconds: 10n } });
    expect(answer.complete).toBe(true);
    expect(answer.reason).toBe(CompletionReason.ALL_RECIPIENTS_ANSWERED);
    expect(answer.events).toHaveLength(1);
    const [result] = answer.events;
    expect(result.topic).toBe("events.collector.enumeration.result");
    expect(result.contentType).toBe("application/json");
    expect(JSON.parse(new TextDecoder().decode(result.payload))).toEqual({ collector: name, language: "python", stage: "enumeration", pid });
    expect(result.publisherProcessId).toBe(pid);
    expect(result.publisher?.pid).toBe(pid); // the stated pid (the broker does not verify pids today)
    expect(result.publisher?.statedPid).toBe(pid);
    expect(result.publisher?.statedPidMismatch).toBe(false);
    const meta = result.correlationMetadata!;
    expect(meta.sourceProcess).toBe(name);
    expect(meta.final).toBe(true);
    expect(meta.sequenceNumber).toBe(1n);
    expect(meta.correlationId).toBe(task.correlationId);
    expect(meta.rootCorrelationId).toBe(task.rootCorrelationId);
    expect(meta.parentCorrelationId).toBeUndefined();
    expect(meta.workflowStage).toBe("enumeration");
    expect(meta.correlationTags).toEqual({ investigation_id: "INC-PY-T1", host: "h1" });
    expect(meta.startedAt).toEqual(task.startedAt);
    await program.waitFor("answered", undefined, (message) => message.correlationId === task.correlationId);

    const found = await agent.service.findByTag({ tags: { investigation_id: "INC-PY-T1" }, oldestFirst: true });
    expect(found.events.map((event) => event.eventId)).toEqual([published.eventId, result.eventId]);

    const timeline = await agent.service.getTimeline({ rootCorrelationId: task.rootCorrelationId });
    expect(timeline.events.map((event) => event.eventId)).toEqual([published.eventId, result.eventId]);
    expect(timeline.correlations).toHaveLength(1);
    expect(timeline.correlations[0].status).toBe(CompletionStatus.COMPLETE);
    expect(timeline.correlations[0].participants.map((p) => [p.sourceProcess, p.pid, p.finalSent])).toEqual([
      ["agent", process.pid, false],
      [name, pid, true],
    ]);

    // A child step: the parent link is copied, and numbering is per correlation (1 again).
    const child = agent.childCorrelation(task, "integrity", { suspicious_pid: "4892" });
    await agent.publish("control.collector.task.integrity", {}, { correlation: child });
    const second = await agent.service.waitForResults({ correlationId: child.correlationId, timeout: { seconds: 10n } });
    expect(second.complete).toBe(true);
    expect(second.events.map((event) => event.correlationMetadata?.parentCorrelationId)).toEqual([task.correlationId]);
    expect(second.events.map((event) => event.correlationMetadata?.sequenceNumber)).toEqual([1n]);
    expect(second.events[0].correlationMetadata?.correlationTags).toEqual({ investigation_id: "INC-PY-T1", host: "h1", suspicious_pid: "4892" });
    expect(second.events[0].topic).toBe("events.collector.integrity.result");

    program.child.kill("SIGTERM");
    expect(await program.exited).toBe(0);
    expect(messagesOf(program, "error")).toEqual([]);
  });

  it.skipIf(skip)("should run the multi-stage workflow with the Python agent and two Python collectors, all separate processes", async () => {
    const collectors = [await collector("py-collector-a"), await collector("py-collector-b")];
    const agentProcess = spawnProcess(pythonCommand, [pythonScript("agent.py"), "--socket", broker.socketPath, "--timeout", "10"]);
    started.push(agentProcess);

    expect(await agentProcess.exited).toBe(0);
    const stages = messagesOf(agentProcess, "stage");
    expect(stages).toEqual([
      { type: "stage", stage: "enumeration", complete: true, results: 2 },
      { type: "stage", stage: "integrity", complete: true, results: 2 },
      { type: "stage", stage: "network_analysis", complete: true, results: 2 },
    ]);
    expect(messagesOf(agentProcess, "timeline")).toEqual([{ type: "timeline", correlations: 3, events: 9 }]);

    // The broker saw the same workflow: found by the agent's investigation tag, inherited by every step.
    const found = await agent.service.findByTag({ tags: { investigation_id: "INC-PY-1" }, oldestFirst: true, omitPayloads: true });
    expect(found.events).toHaveLength(9);
    const tasks = found.events.filter((event) => event.topic.startsWith("control."));
    expect(
      tasks.map((event) => [
        event.topic,
        event.correlationMetadata?.sourceProcess,
        event.correlationMetadata?.sequenceNumber,
        event.correlationMetadata?.final,
      ]),
    ).toEqual([
      ["control.collector.task.process", "python-agent", 1n, false],
      ["control.collector.task.integrity", "python-agent", 1n, false],
      ["control.collector.task.network", "python-agent", 1n, false],
    ]);
    expect(tasks[1].correlationMetadata?.correlationTags).toEqual({ investigation_id: "INC-PY-1", suspicious_pid: "4892" });
    expect(tasks.every((event) => event.publisher?.pid === agentProcess.child.pid)).toBe(true);
    const timeline = await agent.service.getTimeline({ rootCorrelationId: tasks[0].correlationMetadata!.correlationId });
    expect(timeline.correlations.map((c) => [c.correlationId, c.parentCorrelationId, c.depth])).toEqual(
      tasks.map((event, index) => [
        event.correlationMetadata?.correlationId,
        index === 0 ? undefined : tasks[index - 1].correlationMetadata?.correlationId,
        index,
      ]),
    );
    for (const program of collectors) {
      expect(messagesOf(program, "answered")).toHaveLength(3);
      program.child.kill("SIGINT");
      expect(await program.exited).toBe(0);
    }
  });
});
