import { connect } from "node:net";
import { toJson } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { Http2SessionManager, createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CompletionReason, FindByTagResponseSchema, GetTimelineResponseSchema } from "../../gen/corrbus/v1/service_pb.js";
import { CorrelationService, type CorrelationClient, createCorrelationClient, InvalidFieldSchema } from "../../src/index.js";
import { type BrokerProcess, startBrokerProcess } from "../helpers/broker-process.js";
import { stockClient } from "../helpers/stock-client.js";

// FindByTag, GetTimeline, GetWorkflow, GetStats and
// WaitForResults have a lean path on both sides (Connect binary, with or
// without a deadline); gRPC and JSON go through connect-node. Clients must not be able to tell them apart.
// Run against a broker with its lean paths and one with --no-lean-paths (every call through connect-node).
for (const brokerArgs of [[], ["--no-lean-paths"]] as string[][]) {
  describe(`queries on the lean path and through connect-node (broker ${brokerArgs.join(" ") || "with its lean paths"})`, () => {
    let broker: BrokerProcess;
    let lean: CorrelationClient;
    let unlean: CorrelationClient;
    const sessions: Http2SessionManager[] = [];
    let clients: { name: string; client: ReturnType<typeof createClient<typeof CorrelationService>> }[] = [];
    let rootId = "";

    beforeAll(async () => {
      broker = await startBrokerProcess(brokerArgs);
      lean = createCorrelationClient({ socketPath: broker.socketPath, sourceProcess: "agent" });
      clients = [
        { name: "lean", client: lean.service },
        { name: "TS client, lean paths off", client: (unlean = createCorrelationClient({ socketPath: broker.socketPath, leanPaths: false })).service },
      ];
      for (const [name, protocol] of [
        ["gRPC", "gRPC"],
        ["Connect JSON", "Connect JSON"],
        ["Connect binary, stock", "Connect binary"],
      ] as const) {
        const { client, session } = stockClient(broker.socketPath, protocol);
        sessions.push(session);
        clients.push({ name, client });
      }
      const root = lean.newRootCorrelation("enumeration", { investigation_id: "INC-Q" });
      rootId = root.correlationId;
      await lean.publish("events.query.start", "root", { correlation: root });
      for (let step = 0; step < 3; step++) {
        const child = lean.childCorrelation(root, "integrity", { step: String(step) });
        for (let event = 0; event < 4; event++) await lean.publish("events.query.observed", { step, event }, { correlation: child, final: event === 3 });
      }
    });

    afterAll(async () => {
      lean.close();
      unlean.close();
      for (const session of sessions) session.abort();
      await broker.stop();
    });

    const caught = (promise: Promise<unknown>) =>
      promise.then(
        () => undefined,
        (error: unknown) => ConnectError.from(error),
      );

    it("should answer FindByTag pages and GetTimeline with the same events, tokens and tree on every path, with and without a deadline", async () => {
      const answers = [];
      for (const { client } of clients) {
        for (const timeoutMs of [undefined, 5000]) {
          const first = await client.findByTag({ tags: { investigation_id: "INC-Q" }, limit: 5 }, { timeoutMs });
          const second = await client.findByTag({ tags: { investigation_id: "INC-Q" }, limit: 5, pageToken: first.nextPageToken }, { timeoutMs });
          const timeline = await client.getTimeline({ rootCorrelationId: rootId }, { timeoutMs });
          answers.push(
            JSON.stringify([toJson(FindByTagResponseSchema, first), toJson(FindByTagResponseSchema, second), toJson(GetTimelineResponseSchema, timeline)]),
          );
        }
      }
      const [reference] = answers;
      const parsed = JSON.parse(reference);
      expect(parsed[0].events).toHaveLength(5);
      expect(parsed[1].events).toHaveLength(5);
      expect(parsed[2].events).toHaveLength(13);
      expect(parsed[2].correlations).toHaveLength(4);
      for (const answer of answers) expect(answer).toBe(reference);
    });

    it("should refuse bad queries with the same code, message and InvalidField detail on every path", async () => {
      for (const { name, client } of clients) {
        const token = await caught(client.findByTag({ tags: { investigation_id: "INC-Q" }, pageToken: "not-ours" }));
        expect([name, token?.code, token?.rawMessage]).toEqual([name, Code.InvalidArgument, "page_token: is not a token this broker issued"]);
        expect(token?.findDetails(InvalidFieldSchema).map((detail) => detail.field)).toEqual(["page_token"]);
        const unknown = await caught(client.getWorkflow({ correlationId: "00000000-0000-4000-8000-000000000000" }));
        expect([name, unknown?.code]).toEqual([name, Code.NotFound]);
      }
    });

    it("should answer WaitForResults the same on every path: completed by the event it waits for, or at the deadline", async () => {
      const answers = [];
      for (const { client } of clients) {
        const task = lean.newRootCorrelation("enumeration");
        const waiting = client.waitForResults({ correlationId: task.correlationId, expectedResults: 1, timeout: { seconds: 10n } });
        await waitersReach(lean, 1);
        await lean.publish("events.query.result", "done", { correlation: task, final: true });
        const answer = await waiting;
        answers.push([answer.complete, answer.reason, answer.events.map((event) => event.topic)]);
        // The caller's deadline (connect-timeout-ms) bounds the wait, not its own 10 s. The broker answers 20 ms
        // before it (proved on a moved clock in test/server/wait-deadline.test.ts); across processes on a loaded
        // machine that answer can arrive after the deadline, as DEADLINE_EXCEEDED: ended by the deadline all the same.
        const started = performance.now();
        const late = await client.waitForResults({ correlationId: task.correlationId, expectedResults: 2, timeout: { seconds: 10n } }, { timeoutMs: 400 }).then(
          (answer) => [answer.complete, answer.reason, answer.events.length],
          (error: unknown) => {
            expect(ConnectError.from(error).code).toBe(Code.DeadlineExceeded);
            return [false, CompletionReason.DEADLINE, 1];
          },
        );
        expect(performance.now() - started).toBeLessThan(5000);
        answers.push(late);
      }
      for (const answer of answers.slice(2)) expect(answer).toEqual(answers[answers.indexOf(answer) % 2]);
      expect(answers[0]).toEqual([true, CompletionReason.EXPECTED_RESULTS, ["events.query.result"]]);
      expect(answers[1]).toEqual([false, CompletionReason.DEADLINE, 1]);
    });

    it("should drop a lean WaitForResults the client aborts, and end one with UNAVAILABLE when the broker shuts down", async () => {
      const controller = new AbortController();
      const aborted = caught(
        lean.service.waitForResults({ correlationId: lean.newRootCorrelation("x").correlationId, expectedResults: 1 }, { signal: controller.signal }),
      );
      await waitersReach(lean, 1);
      controller.abort();
      expect((await aborted)?.code).toBe(Code.Canceled);
      await waitersReach(lean, 0);

      const closing = await startBrokerProcess();
      const client = createCorrelationClient({ socketPath: closing.socketPath });
      const session = new Http2SessionManager("http://localhost", {}, { createConnection: () => connect(closing.socketPath) });
      const grpc = createClient(CorrelationService, createGrpcTransport({ baseUrl: "http://localhost", sessionManager: session }));
      try {
        const waiting = [client.service, grpc].map((service) =>
          caught(service.waitForResults({ correlationId: client.newRootCorrelation("x").correlationId, expectedResults: 1 })),
        );
        await waitersReach(client, 2);
        expect(await closing.stop()).toBe(0);
        const ended = await Promise.all(waiting);
        expect(ended.map((error) => [error?.code, error?.rawMessage])).toEqual([
          [Code.Unavailable, "broker shutting down"],
          [Code.Unavailable, "broker shutting down"],
        ]);
      } finally {
        client.close();
        session.abort();
      }
    });

    it("should answer GetStats and GetWorkflow on the lean path with what the stock path answers", async () => {
      const viaLean = await lean.service.getStats({});
      const viaStock = await clients[3].client.getStats({});
      expect(viaLean.eventsPublished).toBe(viaStock.eventsPublished);
      expect(viaLean.eventsPublished).toBeGreaterThanOrEqual(13n);
      const workflow = await lean.service.getWorkflow({ correlationId: rootId });
      expect(workflow.workflow?.correlationId).toBe(rootId);
    });
  });
}

/** Polls GetStats until the broker holds `count` waiters (fails after 10 s). */
async function waitersReach(client: CorrelationClient, count: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while ((await client.service.getStats({})).waiters !== count) {
    if (Date.now() > deadline) throw new Error(`the broker never held ${count} waiter(s)`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
