import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CompletionReason, CompletionStatus, type CorrelationClient, createCorrelationClient } from "../../src/index.js";
import { type BrokerProcess, startBrokerProcess } from "../helpers/broker-process.js";
import { type FixtureProcess, spawnFixture } from "../helpers/fixture-process.js";

describe("correlated workflows across processes", () => {
  let broker: BrokerProcess;
  let agent: CorrelationClient;
  const started: FixtureProcess[] = [];

  beforeEach(async () => {
    broker = await startBrokerProcess();
    // The test process is the agent: a client process separate from the broker.
    agent = createCorrelationClient({ socketPath: broker.socketPath, sourceProcess: "agent" });
  });

  afterEach(async () => {
    agent.close();
    for (const fixture of started.splice(0)) fixture.child.kill("SIGKILL");
    await broker.stop();
  });

  async function collector(name: string, ...args: string[]): Promise<FixtureProcess> {
    const fixture = spawnFixture("collector", ["--socket", broker.socketPath, "--name", name, ...args]);
    started.push(fixture);
    await fixture.waitFor("ready");
    return fixture;
  }

  const decode = (payload: Uint8Array) => JSON.parse(new TextDecoder().decode(payload));

  it("should complete a single-stage task when every collector it reached has answered, without being told how many", async () => {
    await collector("process-monitor");
    await collector("file-monitor");
    const task = agent.newRootCorrelation("enumeration", { investigation_id: "INC-1" });
    const published = await agent.publish("control.collector.task.process", { list: "processes" }, { correlation: task });
    expect(published.deliveredCount).toBe(2);

    const answer = await agent.service.waitForResults({ correlationId: task.correlationId, timeout: { seconds: 10n } });
    expect(answer.complete).toBe(true);
    expect(answer.reason).toBe(CompletionReason.ALL_RECIPIENTS_ANSWERED);
    expect(answer.events.map((event) => event.correlationMetadata?.sourceProcess).sort()).toEqual(["file-monitor", "process-monitor"]);
    expect(answer.events.every((event) => event.correlationMetadata?.final)).toBe(true);
    expect(answer.events.every((event) => event.topic === "events.collector.enumeration.result")).toBe(true);

    // Called again after the last result: answers at once, the same way.
    const again = await agent.service.waitForResults({ correlationId: task.correlationId, timeout: { seconds: 1n } });
    expect(again.complete).toBe(true);
    expect(again.events.map((event) => event.eventId)).toEqual(answer.events.map((event) => event.eventId));

    const { workflow } = await agent.service.getWorkflow({ correlationId: task.correlationId });
    expect(workflow?.status).toBe(CompletionStatus.COMPLETE);
    expect(workflow?.totalEvents).toBe(3n);
    expect(workflow?.participants.map((p) => p.sourceProcess).sort()).toEqual(["agent", "file-monitor", "process-monitor"]);
    expect(workflow?.participants.find((p) => p.sourceProcess === "agent")?.finalSent).toBe(false);
    expect(workflow?.deliveries.map((d) => d.subscriberName).sort()).toEqual(["file-monitor", "process-monitor"]);
    expect(workflow?.stages.map((stage) => [stage.name, stage.eventCount])).toEqual([["enumeration", 3n]]);
    expect(workflow?.stages[0].completedAt).toBeDefined();
  });

  it("should follow a multi-stage workflow through child and grandchild steps and return the whole timeline in order", async () => {
    await collector("process-monitor");
    await collector("network-monitor", "--results", "2");
    const enumeration = agent.newRootCorrelation("enumeration", { investigation_id: "INC-2" });
    await agent.publish("control.collector.task.process", { step: 1 }, { correlation: enumeration });
    const first = await agent.service.waitForResults({ correlationId: enumeration.correlationId, timeout: { seconds: 10n } });
    expect(first.complete).toBe(true);
    expect(first.events).toHaveLength(3);

    const integrity = agent.childCorrelation(enumeration, "integrity", { suspicious_pid: "4892" });
    await agent.publish("control.collector.task.integrity", { step: 2 }, { correlation: integrity });
    const second = await agent.service.waitForResults({ correlationId: integrity.correlationId, timeout: { seconds: 10n } });
    expect(second.complete).toBe(true);

    const network = agent.childCorrelation(integrity, "network_analysis");
    await agent.publish("control.collector.task.network", { step: 3 }, { correlation: network });
    const third = await agent.service.waitForResults({ correlationId: network.correlationId, timeout: { seconds: 10n } });
    expect(third.complete).toBe(true);

    const timeline = await agent.service.getTimeline({ rootCorrelationId: enumeration.rootCorrelationId });
    const ids = timeline.events.map((event) => event.eventId);
    expect(ids).toEqual([...ids].sort((a, b) => (a < b ? -1 : 1)));
    expect(timeline.events).toHaveLength(12); // 3 tasks + 3 × (1 + 2) results
    expect(timeline.events.every((event) => event.correlationMetadata?.rootCorrelationId === enumeration.correlationId)).toBe(true);
    expect(timeline.correlations.map((c) => [c.correlationId, c.parentCorrelationId, c.depth])).toEqual([
      [enumeration.correlationId, undefined, 0],
      [integrity.correlationId, enumeration.correlationId, 1],
      [network.correlationId, integrity.correlationId, 2],
    ]);
    expect(timeline.correlations[0].childCorrelationIds).toEqual([integrity.correlationId]);
    expect(timeline.correlations.map((c) => c.stages.map((s) => s.name))).toEqual([["enumeration"], ["integrity"], ["network_analysis"]]);
    expect(timeline.correlations.every((c) => c.status === CompletionStatus.COMPLETE && !c.orphan)).toBe(true);
    // Child steps inherit the investigation tag, so the tag finds the whole workflow.
    const found = await agent.service.findByTag({ tags: { investigation_id: "INC-2" }, limit: 100 });
    expect(found.events).toHaveLength(12);

    const light = await agent.service.getTimeline({ rootCorrelationId: enumeration.rootCorrelationId, omitPayloads: true });
    expect(light.events.every((event) => event.payload.length === 0)).toBe(true);
  });

  it("should find forensic events by several tags at once, page by page", async () => {
    const tagged = ["--tag", "investigation_id=INC-12345", "--tag", "suspicious_pid=4892"];
    const publishers = [
      spawnFixture("publisher", ["--socket", broker.socketPath, "--topic", "events.process.started", "--count", "7", "--prefix", "proc", ...tagged]),
      spawnFixture("publisher", ["--socket", broker.socketPath, "--topic", "events.network.connect", "--count", "6", "--prefix", "net", ...tagged]),
      // Noise: one of the two tags only.
      spawnFixture("publisher", ["--socket", broker.socketPath, "--count", "5", "--tag", "investigation_id=INC-12345", "--tag", "suspicious_pid=1"]),
      spawnFixture("publisher", ["--socket", broker.socketPath, "--count", "5", "--tag", "investigation_id=INC-99999", "--tag", "suspicious_pid=4892"]),
    ];
    started.push(...publishers);
    expect(await Promise.all(publishers.map((p) => p.exited))).toEqual([0, 0, 0, 0]);

    const pages: bigint[][] = [];
    let pageToken = "";
    do {
      const page = await agent.service.findByTag({ tags: { investigation_id: "INC-12345", suspicious_pid: "4892" }, limit: 5, pageToken });
      pages.push(page.events.map((event) => event.eventId));
      for (const event of page.events) {
        expect(event.correlationMetadata?.correlationTags).toMatchObject({ investigation_id: "INC-12345", suspicious_pid: "4892" });
      }
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    expect(pages.map((page) => page.length)).toEqual([5, 5, 3]);
    const all = pages.flat();
    expect(all).toEqual([...all].sort((a, b) => (a > b ? -1 : 1))); // newest first
    expect(new Set(all).size).toBe(13);

    const networkOnly = await agent.service.findByTag({
      tags: { investigation_id: "INC-12345", suspicious_pid: "4892" },
      topicPattern: "events.network.#",
      oldestFirst: true,
    });
    expect(networkOnly.events.map((event) => new TextDecoder().decode(event.payload))).toEqual(["net0", "net1", "net2", "net3", "net4", "net5"]);
  });

  it("should end incomplete, naming the collector, when a recipient is killed mid-task", async () => {
    await collector("process-monitor");
    const doomed = await collector("file-monitor", "--hold");
    const task = agent.newRootCorrelation("enumeration");
    await agent.publish("control.collector.task.process", {}, { correlation: task });
    await doomed.waitFor("task");
    const waiting = agent.service.waitForResults({ correlationId: task.correlationId, timeout: { seconds: 20n } });
    doomed.child.kill("SIGKILL");

    const answer = await waiting;
    expect(answer.complete).toBe(false);
    expect(answer.reason).toBe(CompletionReason.RECIPIENT_DISCONNECTED);
    expect(answer.disconnectedSources).toEqual(["file-monitor"]);
    expect(answer.events.map((event) => event.correlationMetadata?.sourceProcess)).toEqual(["process-monitor"]);
    const { workflow } = await agent.service.getWorkflow({ correlationId: task.correlationId });
    expect(workflow?.status).toBe(CompletionStatus.INCOMPLETE);
  });

  it("should answer the results so far at the deadline, with the sources still pending", async () => {
    await collector("process-monitor");
    const slow = await collector("memory-monitor", "--hold");
    const task = agent.newRootCorrelation("enumeration");
    await agent.publish("control.collector.task.process", {}, { correlation: task });
    await slow.waitFor("task");

    const answer = await agent.service.waitForResults({ correlationId: task.correlationId, timeout: { nanos: 500_000_000 } });
    expect(answer.complete).toBe(false);
    expect(answer.reason).toBe(CompletionReason.DEADLINE);
    expect(answer.pendingSources).toEqual(["memory-monitor"]);
    expect(answer.events.map((event) => decode(event.payload).collector)).toEqual(["process-monitor"]);
  });

  it("should complete on expected_sources and expected_results, even when called before the first result", async () => {
    const task = agent.newRootCorrelation("enumeration");
    const bySources = agent.service.waitForResults({ correlationId: task.correlationId, expectedSources: ["a", "b"], timeout: { seconds: 10n } });
    const byCount = agent.service.waitForResults({ correlationId: task.correlationId, expectedResults: 3, timeout: { seconds: 10n } });
    const a = createCorrelationClient({ socketPath: broker.socketPath, sourceProcess: "a" });
    const b = createCorrelationClient({ socketPath: broker.socketPath, sourceProcess: "b" });
    try {
      const answerA = { ...task, sourceProcess: "a" };
      const answerB = { ...task, sourceProcess: "b" };
      await a.publish("events.collector.enumeration.result", "a1", { correlation: answerA });
      await a.publish("events.collector.enumeration.result", "a2", { correlation: answerA, final: true });
      await b.publish("events.collector.enumeration.result", "b1", { correlation: answerB, final: true });
    } finally {
      a.close();
      b.close();
    }
    const sources = await bySources;
    expect(sources.complete).toBe(true);
    expect(sources.reason).toBe(CompletionReason.EXPECTED_SOURCES);
    const count = await byCount;
    expect(count.complete).toBe(true);
    expect(count.reason).toBe(CompletionReason.EXPECTED_RESULTS);
    expect(count.events).toHaveLength(3);
  });

  it("should refuse bad input with a precise error and store nothing", async () => {
    const root = agent.newRootCorrelation("enumeration");
    await agent.publish("events.x", "root", { correlation: root });
    const before = await agent.service.getStats({});
    const tooManyTags = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, "v"]));
    const attempts: [() => Promise<unknown>, Code, string][] = [
      [() => agent.publish("events.Process", "x"), Code.InvalidArgument, 'topic: segment 2 "Process" of "events.Process" must match [a-z0-9_-]+'],
      [() => agent.publish("metrics.cpu", "x"), Code.InvalidArgument, 'topic: first segment "metrics" of "metrics.cpu" must be "events" or "control"'],
      [
        () => agent.publish("events.x", "x", { correlation: { ...root, correlationTags: tooManyTags } }),
        Code.InvalidArgument,
        "correlation_metadata.correlation_tags: 65 tags exceeds the limit of 64",
      ],
      [
        () => agent.publish("events.x", "x", { correlation: { ...root, correlationId: "not-a-uuid" } }),
        Code.InvalidArgument,
        'correlation_metadata.correlation_id: "not-a-uuid" is not a UUID',
      ],
      [() => agent.publish("events.x", new Uint8Array(1024 * 1024 + 1)), Code.InvalidArgument, "payload: 1048577 bytes exceeds the limit of 1048576"],
      [
        () => agent.publish("events.x", "x", { correlation: { ...agent.childCorrelation(root, "s"), rootCorrelationId: crypto.randomUUID() } }),
        Code.FailedPrecondition,
        `differs from root ${root.correlationId} of parent ${root.correlationId}`,
      ],
      [
        () =>
          agent.service
            .subscribe({ patterns: ["events.#.x"] })
            [Symbol.asyncIterator]()
            .next(),
        Code.InvalidArgument,
        'patterns[0]: segment 2 "#" of "events.#.x" must be the last segment',
      ],
      [() => agent.service.findByTag({ tags: { a: "b" }, limit: 5000 }), Code.InvalidArgument, "limit: 5000 exceeds the limit of 1000"],
      [() => agent.service.findByTag({ tags: { a: "b" }, pageToken: "garbage" }), Code.InvalidArgument, "page_token: is not a token this broker issued"],
      [() => agent.service.getWorkflow({ correlationId: crypto.randomUUID() }), Code.NotFound, "is not tracked and has no events in history"],
    ];
    for (const [attempt, code, message] of attempts) {
      const error = await attempt().then(
        () => undefined,
        (caught: unknown) => ConnectError.from(caught),
      );
      expect(error?.code, message).toBe(code);
      expect(error?.rawMessage).toContain(message);
    }
    const after = await agent.service.getStats({});
    expect(after.eventsPublished).toBe(before.eventsPublished);
    expect(after.eventsStored).toBe(before.eventsStored);
    expect(after.publishesRejected - before.publishesRejected).toBe(6n);
  });
});
