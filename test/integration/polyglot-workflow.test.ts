import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CompletionReason, CompletionStatus, type CorrelationClient, createCorrelationClient } from "../../src/index.js";
import { type BrokerProcess, startBrokerProcess } from "../helpers/broker-process.js";
import type { FixtureProcess } from "../helpers/fixture-process.js";
import { collectorsAvailable, type Language, spawnLanguageCollector } from "../helpers/language-collectors.js";

const languages: Language[] = ["rust", "python", "go"];
const { skip } = collectorsAvailable("polyglot-workflow.test.ts", ...languages);

describe("one workflow across Rust, Python and Go collectors and a TypeScript agent", () => {
  let broker: BrokerProcess;
  let agent: CorrelationClient;
  const collectors = new Map<Language, FixtureProcess>();

  beforeEach(async () => {
    if (skip) return;
    broker = await startBrokerProcess();
    agent = createCorrelationClient({ socketPath: broker.socketPath, sourceProcess: "ts-agent" });
    for (const language of languages) {
      collectors.set(language, spawnLanguageCollector(language, ["--socket", broker.socketPath, "--name", `${language}-collector`]));
    }
    await Promise.all([...collectors.values()].map((collector) => collector.waitFor("ready")));
  });

  afterEach(async () => {
    if (skip) return;
    agent.close();
    for (const collector of collectors.values()) collector.child.kill("SIGKILL");
    collectors.clear();
    await broker.stop();
  });

  it.skipIf(skip)("should complete every stage by delivery tracking and show each collector's events with its source and pid", async () => {
    const enumeration = agent.newRootCorrelation("enumeration", { investigation_id: "INC-POLY" });
    const integrity = agent.childCorrelation(enumeration, "integrity", { suspicious_pid: "4892" });
    const network = agent.childCorrelation(integrity, "network_analysis");
    const steps = [
      ["control.collector.task.process", enumeration],
      ["control.collector.task.integrity", integrity],
      ["control.collector.task.network", network],
    ] as const;

    for (const [topic, step] of steps) {
      const sent = await agent.publish(topic, { stage: step.workflowStage }, { correlation: step });
      expect(sent.deliveredCount).toBe(3);
      const answer = await agent.service.waitForResults({ correlationId: step.correlationId, timeout: { seconds: 15n } });
      expect(answer.complete).toBe(true);
      expect(answer.reason).toBe(CompletionReason.ALL_RECIPIENTS_ANSWERED);
      const bySource = new Map(answer.events.map((event) => [event.correlationMetadata?.sourceProcess, event]));
      expect([...bySource.keys()].sort()).toEqual(["go-collector", "python-collector", "rust-collector"]);
      for (const language of languages) {
        const event = bySource.get(`${language}-collector`);
        const payload = JSON.parse(new TextDecoder().decode(event?.payload));
        expect(payload).toMatchObject({ language, stage: step.workflowStage, pid: collectors.get(language)?.child.pid });
        // The pid the broker stamped is the kernel's (SO_PEERCRED), and the collector stated the same.
        expect(event?.publisher?.pid).toBe(collectors.get(language)?.child.pid);
        expect(event?.publisher?.verified).toBe(true);
        expect(event?.publisher?.statedPidMismatch).toBe(false);
        expect(event?.correlationMetadata?.final).toBe(true);
        expect(event?.topic).toBe(`events.collector.${step.workflowStage}.result`);
      }
    }

    const found = await agent.service.findByTag({ tags: { investigation_id: "INC-POLY", suspicious_pid: "4892" }, oldestFirst: true });
    // The integrity and network_analysis steps carry both tags: a task and three results each.
    const sources = found.events.map((event) => event.correlationMetadata?.sourceProcess);
    const collectorNames = ["go-collector", "python-collector", "rust-collector"];
    expect([sources[0], sources[4]]).toEqual(["ts-agent", "ts-agent"]);
    expect(sources.slice(1, 4).sort()).toEqual(collectorNames);
    expect(sources.slice(5, 8).sort()).toEqual(collectorNames);
    expect(found.events).toHaveLength(8);
    expect(
      found.events
        .filter((event) => event.correlationMetadata?.sourceProcess !== "ts-agent")
        .map((event) => event.publisher?.pid)
        .sort(),
    ).toEqual([...languages, ...languages].map((language) => collectors.get(language)?.child.pid).sort());

    const timeline = await agent.service.getTimeline({ rootCorrelationId: enumeration.rootCorrelationId });
    expect(timeline.events).toHaveLength(12);
    expect(timeline.correlations.map((c) => c.correlationId)).toEqual([enumeration.correlationId, integrity.correlationId, network.correlationId]);
    for (const correlation of timeline.correlations) {
      expect(correlation.status).toBe(CompletionStatus.COMPLETE);
      const participants = new Map(correlation.participants.map((p) => [p.sourceProcess, p]));
      expect([...participants.keys()].sort()).toEqual(["go-collector", "python-collector", "rust-collector", "ts-agent"]);
      for (const language of languages) {
        expect(participants.get(`${language}-collector`)?.pid).toBe(collectors.get(language)?.child.pid);
        expect(participants.get(`${language}-collector`)?.finalSent).toBe(true);
      }
    }
  });
});
