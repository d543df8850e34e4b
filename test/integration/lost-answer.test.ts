import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type CorrelationClient, type CorrelationMetadata, createCorrelationClient } from "../../src/index.js";
import { type BrokerProcess, repoRoot, startBrokerProcess } from "../helpers/broker-process.js";
import { eventually } from "../helpers/eventually.js";
import { type Language, collectorsAvailable, spawnLanguageCollector } from "../helpers/language-collectors.js";
import { LineReader } from "../helpers/line-reader.js";
import { SocketProxy } from "../helpers/socket-proxy.js";

// A collector mid-answer when its connection dies: the broker stored the
// answer, the ack never arrived. The collector must find that out and publish
// nothing twice (examples/*: publishOnce in TS, the same GetWorkflow check in
// Python, Go and Rust). A proxy between the collector and the broker holds the
// broker's bytes from the collector's publish on, then cuts the connection
// once the broker holds the answer: the moment a crash can hit by chance.

/** What the test needs of a collector process, whatever its language. */
interface CollectorUnderTest {
  child: ChildProcess;
  ready(): Promise<void>;
  /** Resolves with whether the collector reported the answer to `correlationId` as stored before the connection went. */
  answered(correlationId: string): Promise<{ alreadyStored: boolean }>;
  /** Resolves once the collector reported a reconnect. */
  reconnected(): Promise<void>;
}

function typescriptCollector(socket: string, name: string): CollectorUnderTest {
  const child = spawn(process.execPath, [join(repoRoot, "dist/examples/typescript/collector.js"), name], {
    env: { ...process.env, CORRBUS_SOCKET: socket },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const out = new LineReader(child.stdout!);
  return {
    child,
    ready: async () => void (await out.waitFor((line) => line === `${name}: waiting for tasks`, 15_000)),
    answered: async (correlationId) => {
      const line = await out.waitFor((text) => text.startsWith(`${name}: answered `) && text.includes(correlationId), 20_000);
      return { alreadyStored: line.endsWith("(stored before the broker went away)") };
    },
    reconnected: async () => void (await out.waitFor((line) => line.includes("subscribing again"), 15_000)),
  };
}

function languageCollector(language: Language): (socket: string, name: string) => CollectorUnderTest {
  return (socket, name) => {
    const collector = spawnLanguageCollector(language, ["--socket", socket, "--name", name]);
    return {
      child: collector.child,
      ready: async () => void (await collector.waitFor("ready")),
      answered: async (correlationId) => {
        const line = await collector.waitFor("answered", 20_000, (message) => message.correlationId === correlationId);
        return { alreadyStored: line.alreadyStored === true };
      },
      reconnected: async () => void (await collector.waitFor("reconnect")),
    };
  };
}

const languages: Language[] = ["python", "go", "rust"];
const { skip: skipLanguages } = collectorsAvailable("lost-answer.test.ts", ...languages);
const collectors: [string, (socket: string, name: string) => CollectorUnderTest, boolean][] = [
  ["TypeScript (examples/typescript/collector.ts)", typescriptCollector, false],
  ...languages.map((language): [string, (socket: string, name: string) => CollectorUnderTest, boolean] => [
    language,
    languageCollector(language),
    skipLanguages,
  ]),
];

describe("a collector whose answer the broker stored but whose ack was lost", () => {
  let broker: BrokerProcess;
  let proxy: SocketProxy;
  let agent: CorrelationClient;
  const children: ChildProcess[] = [];

  beforeEach(async () => {
    broker = await startBrokerProcess();
    proxy = await SocketProxy.start(join(broker.directory, "proxy", "collector.sock"), broker.socketPath);
    agent = createCorrelationClient({ socketPath: broker.socketPath, sourceProcess: "lost-answer-agent" });
  });

  afterEach(async () => {
    agent?.close();
    for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await proxy?.close();
    await broker?.stop();
  });

  /** This collector's events in the task's correlation, as the broker holds them. */
  const answersOf = async (task: CorrelationMetadata, name: string) => {
    const { workflow } = await agent.service.getWorkflow({ correlationId: task.correlationId });
    return workflow?.participants.find((participant) => participant.sourceProcess === name);
  };

  for (const [label, start, skip] of collectors) {
    it.skipIf(skip)(`should publish nothing twice and go on answering: ${label}`, async () => {
      const name = `lost-${label.split(" ")[0].toLowerCase()}`;
      const collector = start(proxy.path, name);
      children.push(collector.child);
      await collector.ready();

      proxy.holdAnswersFromNextRequest();
      const task = agent.newRootCorrelation("enumeration");
      const sent = await agent.publish("control.collector.task.process", { action: "list" }, { correlation: task });
      expect(sent.deliveredCount).toBe(1);
      // The answer reaches the broker; its ack is held back.
      await eventually("the broker storing the collector's answer", () => proxy.holding, 15_000);
      let stored: Awaited<ReturnType<typeof answersOf>>;
      await eventually(
        "the answer in the broker's workflow state",
        () => {
          void answersOf(task, name).then((participant) => (stored = participant));
          return stored?.finalSent === true;
        },
        15_000,
      );
      proxy.cutAll();
      expect(proxy.cutCount).toBe(1);

      expect(await collector.answered(task.correlationId)).toEqual({ alreadyStored: true });
      await collector.reconnected();
      // It is subscribed again and answers the next task as usual.
      let subscribers = 0;
      const next = agent.newRootCorrelation("enumeration");
      await eventually(
        "the collector subscribed again",
        () => {
          void agent.service.getStats({}).then((stats) => (subscribers = stats.subscribers));
          return subscribers === 1;
        },
        15_000,
      );
      await agent.publish("control.collector.task.process", { action: "list" }, { correlation: next });
      expect(await collector.answered(next.correlationId)).toEqual({ alreadyStored: false });

      // One answer each: the lost ack did not make a second one.
      for (const step of [task, next]) {
        expect(await answersOf(step, name)).toMatchObject({ eventCount: 1n, finalSent: true, lastSequenceNumber: 1n });
        const timeline = await agent.service.getTimeline({ rootCorrelationId: step.correlationId, omitPayloads: true });
        expect(timeline.events.map((event) => event.correlationMetadata?.sourceProcess)).toEqual(["lost-answer-agent", name]);
      }
    });
  }
});
