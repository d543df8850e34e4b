// Workflow facts off the host (issue 16: "every journaled event and whatever
// workflow records the journal holds"): a host broker forwarding with
// --forward-control publishes its journal's facts (who a task was delivered
// to, who left before answering) on <prefix>.<host>.facts, each once in the
// stream across a SIGKILL of the host broker; the central keeps them in the
// stream and counts them. Real processes: nats-server, a host broker, a
// central broker, collector processes.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fromBinary } from "@bufbuild/protobuf";
import { DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type WorkflowFact, WorkflowFactSchema } from "../../gen/corrbus/v1/journal_pb.js";
import { type CorrelationClient, type GetStatsResponse, createCorrelationClient } from "../../src/index.js";
import { type BrokerProcess, runCli, startBrokerProcess } from "../helpers/broker-process.js";
import { type FixtureProcess, spawnFixture } from "../helpers/fixture-process.js";
import { type NatsServerProcess, natsServerVersion, startNatsServer } from "../helpers/nats-server.js";

const hasNatsServer = natsServerVersion() !== undefined;
const inCi = process.env.CI === "true";
if (!hasNatsServer && !inCi) console.warn("fleet-workflow-facts.test: skipped, nats-server not found (apt-get install nats-server)");

const hostId = `facts-${randomBytes(3).toString("hex")}`;

/** Runs `check` (assertions) until it passes or `timeoutMs` passes; then its last failure is the test's. */
async function eventually(check: () => Promise<void>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** The stream's messages on one subject: Nats-Msg-Id and the fact each carries. */
async function streamFacts(url: string, subject: string): Promise<{ msgId: string; fact: WorkflowFact }[]> {
  const nc = await connect({ servers: url });
  try {
    const info = await (await jetstreamManager(nc)).streams.info("CORRBUS", { subjects_filter: subject });
    const total = info.state.subjects?.[subject] ?? 0;
    const out: { msgId: string; fact: WorkflowFact }[] = [];
    if (total === 0) return out;
    const consumer = await jetstream(nc).consumers.get("CORRBUS", { deliver_policy: DeliverPolicy.All, filter_subjects: subject });
    for await (const message of await consumer.consume()) {
      out.push({ msgId: message.headers?.get("Nats-Msg-Id") ?? "", fact: fromBinary(WorkflowFactSchema, message.data) });
      if (out.length >= total) break;
    }
    return out;
  } finally {
    await nc.close();
  }
}

describe.skipIf(!hasNatsServer && !inCi)("workflow facts forwarded with --forward-control", () => {
  let nats: NatsServerProcess;
  let host: BrokerProcess;
  let central: BrokerProcess;
  let agent: CorrelationClient;
  let dataDir: string;
  const processes: { stop: () => Promise<unknown> }[] = [];
  const collectors: FixtureProcess[] = [];

  const hostArgs = () => ["--host-id", hostId, "--forward", nats.url, "--forward-control", "--data-dir", dataDir];

  beforeAll(async () => {
    nats = (await startNatsServer()) as NatsServerProcess;
    dataDir = mkdtempSync(join(tmpdir(), "corrbus-facts-"));
    host = await startBrokerProcess(hostArgs());
    central = await startBrokerProcess(["--host-id", `central-${hostId}`, "--ingest", nats.url]);
    processes.push(host, central);
    agent = createCorrelationClient({ socketPath: host.socketPath, sourceProcess: "agent" });
  }, 60_000);

  afterAll(async () => {
    agent?.close();
    for (const collector of collectors) collector.child.kill("SIGKILL");
    for (const process of processes) await process.stop().catch(() => {});
    await nats?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** A task two collectors take: one answers, one holds and is SIGKILLed (its delivery left unanswered). */
  async function taskWithOneLeaving(round: number): Promise<bigint> {
    const answering = spawnFixture("collector", ["--socket", host.socketPath, "--name", `answering-${round}`]);
    const holding = spawnFixture("collector", ["--socket", host.socketPath, "--name", `holding-${round}`, "--hold"]);
    collectors.push(answering, holding);
    await Promise.all([answering.waitFor("ready"), holding.waitFor("ready")]);
    const task = agent.newRootCorrelation("enumerate", { investigation_id: `INC-FACTS-${round}` });
    const published = await agent.publish("control.collector.task.enumerate", { round }, { correlation: task });
    await answering.waitFor("answered");
    await holding.waitFor("task");
    holding.child.kill("SIGKILL");
    answering.child.kill("SIGTERM");
    await Promise.all([holding.exited, answering.exited]);
    return published.eventId;
  }

  async function forwardStats(): Promise<NonNullable<GetStatsResponse["forward"]>> {
    const stats = await agent.service.getStats({});
    if (stats.forward === undefined) throw new Error("no forward stats");
    return stats.forward;
  }

  /** The journal's count of workflow facts (`corrbus journal verify --json`). */
  async function journalFacts(): Promise<number> {
    const result = await runCli(["journal", "verify", "--json", "--data-dir", dataDir]);
    expect(result.code, result.stderr).toBe(0);
    return JSON.parse(result.stdout).workflow_facts;
  }

  /** A new host broker process on the same data directory and socket, and the agent's client to it. */
  async function restartHost(): Promise<void> {
    host = await startBrokerProcess(hostArgs(), host.socketPath);
    processes.push(host);
    agent.close();
    agent = createCorrelationClient({ socketPath: host.socketPath, sourceProcess: "agent" });
  }

  /** Waits until everything journaled is acknowledged and the stream holds as many facts as the journal. */
  async function forwardedEverything(subject: string): Promise<void> {
    await eventually(async () => {
      const forward = await forwardStats();
      expect(forward.lagEvents).toBe(0n);
      expect(forward.inFlight).toBe(0);
      expect(await streamFacts(nats.url, subject)).toHaveLength(await journalFacts());
    }, 20_000);
  }

  it("should publish each fact once, in journal order, across a SIGKILL of the host broker, and the central should count them", async () => {
    const firstTask = await taskWithOneLeaving(1);
    const subject = `corrbus.${hostId}.facts`;
    await eventually(async () => {
      const forward = await forwardStats();
      expect(forward.lagEvents).toBe(0n);
      expect(forward.inFlight).toBe(0);
      expect(Number(forward.factsAcked)).toBeGreaterThanOrEqual(2);
    }, 20_000);
    const first = await streamFacts(nats.url, subject);
    // The task's delivery to both collectors, then the holding one's leaving (its subscription id from the delivery).
    expect(first[0].fact.fact.case).toBe("taskDelivered");
    const delivered = first[0].fact.fact.value as { eventId: bigint; recipients: { subscriberName: string; subscriptionId: bigint }[] };
    expect(delivered.eventId).toBe(firstTask);
    expect(delivered.recipients.map((recipient) => recipient.subscriberName).sort()).toEqual(["answering-1", "holding-1"]);
    const holdingId = delivered.recipients.find((recipient) => recipient.subscriberName === "holding-1")?.subscriptionId;
    const left = first.find((entry) => entry.fact.fact.case === "recipientLeft");
    expect(left?.fact.fact.value).toMatchObject({ subscriptionId: holdingId });
    expect(first).toHaveLength(await journalFacts());
    expect(first[0].msgId).toBe(`${hostId}-${firstTask}-f0`);

    // SIGKILL: the cursor on disk may be behind what JetStream acknowledged; what is sent again must not show twice.
    await host.kill();
    await restartHost();
    await taskWithOneLeaving(2);
    await forwardedEverything(subject);
    const afterKill = await streamFacts(nats.url, subject);
    expect(new Set(afterKill.map((entry) => entry.msgId)).size).toBe(afterKill.length);
    expect(afterKill.slice(0, first.length)).toEqual(first);
    expect(afterKill.filter((entry) => entry.fact.fact.case === "taskDelivered")).toHaveLength(2);

    // SIGTERM writes the cursor: the next broker sends nothing again (no duplicate for JetStream to drop), facts included.
    expect(await host.stop()).toBe(0);
    await restartHost();
    await taskWithOneLeaving(3);
    await forwardedEverything(subject);
    const forward = await forwardStats();
    expect(forward.duplicates, "sent again after a clean restart").toBe(0n);
    expect(Number(forward.factsAcked)).toBeGreaterThanOrEqual(2);
    const all = await streamFacts(nats.url, subject);
    expect(new Set(all.map((entry) => entry.msgId)).size).toBe(all.length);
    expect(all.slice(0, afterKill.length)).toEqual(afterKill);

    // The central keeps them in the stream, counts them, and refuses none of them as events.
    const centralClient = createCorrelationClient({ socketPath: central.socketPath, sourceProcess: "check" });
    try {
      await eventually(async () => {
        const ingest = (await centralClient.service.getStats({})).ingest;
        expect(Number(ingest?.factsReceived)).toBe(all.length);
        expect(ingest?.refused).toBe(0n);
      }, 20_000);
    } finally {
      centralClient.close();
    }
  }, 120_000);
});
