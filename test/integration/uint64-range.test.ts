import { toJson } from "@bufbuild/protobuf";
import { Code, ConnectError, type createClient } from "@connectrpc/connect";
import type { Http2SessionManager } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GetWorkflowResponseSchema } from "../../gen/corrbus/v1/service_pb.js";
import { type CorrelationService, type CorrelationClient, InvalidFieldSchema, createCorrelationClient } from "../../src/index.js";
import { type BrokerProcess, runCli, startBrokerProcess } from "../helpers/broker-process.js";
import { stockClient } from "../helpers/stock-client.js";

// uint64 fields are exact over their whole range, on every path a client can take: a
// sequence_number of 2^64-1 once came back from the tracker as the double 2^64, which no
// binary client could decode (INTERNAL: cannot encode field ... last_sequence_number).
const max = 2n ** 64n - 1n;
const beyondSafe = 2n ** 53n + 1n;

describe("uint64 values through a live broker", () => {
  let broker: BrokerProcess;
  let agent: CorrelationClient;
  let grpc: CorrelationClient;
  const sessions: Http2SessionManager[] = [];
  let clients: { name: string; client: ReturnType<typeof createClient<typeof CorrelationService>> }[] = [];

  beforeAll(async () => {
    broker = await startBrokerProcess();
    agent = createCorrelationClient({ socketPath: broker.socketPath, sourceProcess: "agent" });
    grpc = createCorrelationClient({ socketPath: broker.socketPath, sourceProcess: "grpc-collector", protocol: "grpc" });
    clients = [
      { name: "TS client (Connect binary, lean path)", client: agent.service },
      { name: "TS client (gRPC)", client: grpc.service },
    ];
    for (const [name, protocol] of [
      ["gRPC, stock", "gRPC"],
      ["Connect JSON", "Connect JSON"],
      ["Connect binary, stock", "Connect binary"],
    ] as const) {
      const { client, session } = stockClient(broker.socketPath, protocol);
      sessions.push(session);
      clients.push({ name, client });
    }
  });

  afterAll(async () => {
    agent.close();
    grpc.close();
    for (const session of sessions) session.abort();
    await broker.stop();
  });

  it("should answer GetWorkflow and GetTimeline for sequence numbers 2^53+1 and 2^64-1 with the exact values, on every path", async () => {
    const root = agent.newRootCorrelation("enumeration");
    await agent.publish("events.range.start", "root", { correlation: root });
    const child = grpc.childCorrelation(root, "analysis");
    // Published over gRPC, numbered by hand: 1, then two past 2^53, the last the largest uint64.
    for (const sequenceNumber of [1n, beyondSafe, max]) {
      const envelope = grpc.envelope("events.range.result", { sequenceNumber: String(sequenceNumber) }, { correlation: child });
      if (envelope.correlationMetadata !== undefined) envelope.correlationMetadata.sequenceNumber = sequenceNumber;
      await grpc.service.publish({ envelope });
    }
    const answers: string[] = [];
    for (const { name, client } of clients) {
      const { workflow } = await client.getWorkflow({ correlationId: child.correlationId });
      expect([name, workflow?.participants.map((participant) => [participant.sourceProcess, participant.lastSequenceNumber])]).toEqual([
        name,
        [["grpc-collector", max]],
      ]);
      expect([name, workflow?.gaps.map((gap) => [gap.firstMissing, gap.lastMissing])]).toEqual([
        name,
        [
          [2n, beyondSafe - 1n],
          [beyondSafe + 1n, max - 1n],
        ],
      ]);
      const timeline = await client.getTimeline({ rootCorrelationId: root.correlationId });
      expect([name, timeline.events.map((event) => event.correlationMetadata?.sequenceNumber)]).toEqual([name, [1n, 1n, beyondSafe, max]]);
      answers.push(JSON.stringify(toJson(GetWorkflowResponseSchema, { $typeName: "corrbus.v1.GetWorkflowResponse", workflow })));
    }
    // JSON carries uint64 as decimal strings: the exact digits.
    expect(answers[0]).toContain(`"lastSequenceNumber":"${max}"`);
    for (const answer of answers) expect(answer).toBe(answers[0]);

    // The CLI is a binary client too.
    const shown = await runCli(["workflow", child.correlationId, "--socket", broker.socketPath]);
    expect(shown.stderr).toBe("");
    expect(shown.stdout).toMatch(new RegExp(`^grpc-collector +\\d+ +\\S+ +3 +no +${max}$`, "m"));
    expect(shown.stdout).toContain(String(max - 1n));
  });

  it("should refuse an event id no event can have with INVALID_ARGUMENT naming the field and the limit, never rounding it", async () => {
    for (const { name, client } of clients) {
      for (const value of [2n ** 53n, max]) {
        const subscribe = await caught(
          (async () => {
            for await (const response of client.subscribe({ patterns: ["#"], start: { case: "fromEventId", value } })) return response;
          })(),
        );
        expect([name, subscribe?.code, subscribe?.rawMessage]).toEqual([
          name,
          Code.InvalidArgument,
          `from_event_id: ${value} exceeds the largest event id, ${Number.MAX_SAFE_INTEGER} (2^53-1)`,
        ]);
        expect(subscribe?.findDetails(InvalidFieldSchema).map((detail) => detail.field)).toEqual(["from_event_id"]);
        const timeline = await caught(client.getTimeline({ rootCorrelationId: "00000000-0000-4000-8000-000000000001", afterEventId: value }));
        expect([name, timeline?.code, timeline?.rawMessage]).toEqual([
          name,
          Code.InvalidArgument,
          `after_event_id: ${value} exceeds the largest event id, ${Number.MAX_SAFE_INTEGER} (2^53-1)`,
        ]);
      }
      // A page token past the largest id was never issued (16 digits of it used to round to another id).
      const token = Buffer.from("v1:9999999999999999").toString("base64url");
      const page = await caught(client.findByTag({ tags: { k: "v" }, pageToken: token }));
      expect([name, page?.code, page?.rawMessage]).toEqual([name, Code.InvalidArgument, "page_token: is not a token this broker issued"]);
    }
    // The largest id itself is a valid start: nothing to replay yet, the subscription is open.
    for await (const response of agent.service.subscribe({ patterns: ["#"], start: { case: "fromEventId", value: 2n ** 53n - 1n } })) {
      expect(response.subscribed).toBe(true);
      break;
    }
  });

  it("should refuse a --sequence past 2^64-1 in the CLI before anything is sent", async () => {
    const tooBig = await runCli(["publish", "events.range.cli", "x", "--new-root", "--sequence", "18446744073709551616", "--socket", broker.socketPath]);
    expect(tooBig.code).toBe(2);
    expect(tooBig.stderr).toContain(`--sequence: "18446744073709551616" is not a sequence number (0, 1, 2, … up to ${max})`);
    const largest = await runCli(["publish", "events.range.cli", "x", "--new-root", "--sequence", String(max), "--socket", broker.socketPath, "--json"]);
    expect(largest.stderr).toBe("");
    expect(JSON.parse(largest.stdout).correlation_metadata.sequence_number).toBe(String(max));
  });
});

function caught(promise: Promise<unknown>): Promise<ConnectError | undefined> {
  return promise.then(
    () => undefined,
    (error: unknown) => ConnectError.from(error),
  );
}
