import * as http2 from "node:http2";
import { connect } from "node:net";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PublishStreamRequestSchema, PublishStreamResponseSchema } from "../../gen/corrbus/v1/service_pb.js";
import { createCorrelationClient } from "../../src/index.js";
import { type BrokerProcess, startBrokerProcess } from "../helpers/broker-process.js";
import { eventually } from "../helpers/eventually.js";

// The broker serves PublishStream over Connect binary on its own lean path;
// one started with --no-lean-paths serves it through connect-node: the same
// bytes sent to both must get the same acks and the same end (error code and
// message).
describe("PublishStream framing on the lean path and through connect-node", () => {
  let broker: BrokerProcess;
  let stockBroker: BrokerProcess;
  let session: http2.ClientHttp2Session;
  let stockSession: http2.ClientHttp2Session;

  beforeAll(async () => {
    [broker, stockBroker] = await Promise.all([
      startBrokerProcess(["--limit", "maxPayloadBytes=4096"]),
      startBrokerProcess(["--limit", "maxPayloadBytes=4096", "--no-lean-paths"]),
    ]);
    session = http2.connect("http://localhost", { createConnection: () => connect(broker.socketPath) });
    stockSession = http2.connect("http://localhost", { createConnection: () => connect(stockBroker.socketPath) });
  });

  afterAll(async () => {
    session.close();
    stockSession.close();
    await Promise.all([broker.stop(), stockBroker.stop()]);
  });

  const batch = (...topics: string[]) =>
    toBinary(
      PublishStreamRequestSchema,
      create(PublishStreamRequestSchema, {
        envelopes: topics.map((topic) => ({
          topic,
          payload: new Uint8Array([1]),
          correlationMetadata: {
            correlationId: "2f1c1e7e-8d3b-4c55-9a55-0d6f1a3c9b10",
            rootCorrelationId: "2f1c1e7e-8d3b-4c55-9a55-0d6f1a3c9b10",
            correlationTags: { host: "h" },
          },
        })),
      }),
    );

  function envelope(flags: number, body: Uint8Array, declaredLength = body.length): Buffer {
    const out = Buffer.alloc(5 + body.length);
    out[0] = flags;
    out.writeUInt32BE(declaredLength, 1);
    out.set(body, 5);
    return out;
  }

  /** Sends `bytes` as the whole request; answers the acks (event ids per batch) and the end-of-stream message. */
  async function exchange(
    bytes: Buffer,
    path: "lean" | "stock",
    pieceBytes = bytes.length,
    deadline?: string,
  ): Promise<{ status: number; acks: number[]; end: unknown }> {
    const headers: http2.OutgoingHttpHeaders = {
      ":method": "POST",
      ":path": "/corrbus.v1.CorrelationService/PublishStream",
      "content-type": "application/connect+proto",
      "connect-protocol-version": "1",
    };
    // A deadline takes the same path as a call without one.
    if (deadline !== undefined) headers["connect-timeout-ms"] = deadline;
    const request = (path === "lean" ? session : stockSession).request(headers);
    const chunks: Buffer[] = [];
    let status = 0;
    request.on("response", (response) => (status = Number(response[":status"])));
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    for (let at = 0; at + pieceBytes < bytes.length; at += pieceBytes) {
      // One DATA frame each, the next written only once this one is handed to the socket.
      await new Promise((resolve) => request.write(bytes.subarray(at, at + pieceBytes), resolve));
    }
    request.end(bytes.subarray(Math.floor((bytes.length - 1) / pieceBytes) * pieceBytes));
    await new Promise((resolve, reject) => {
      request.on("end", resolve);
      request.on("error", reject);
    });
    let answer = Buffer.concat(chunks);
    const acks: number[] = [];
    let end: unknown;
    while (answer.length >= 5) {
      const length = answer.readUInt32BE(1);
      const body = answer.subarray(5, 5 + length);
      if ((answer[0] & 0b10) !== 0) end = JSON.parse(body.toString());
      else acks.push(fromBinary(PublishStreamResponseSchema, body).eventIds.length);
      answer = answer.subarray(5 + length);
    }
    return { status, acks, end };
  }

  let leanExchanges = 0;

  /** Both paths' outcomes for the same bytes, checked equal; answers the lean one. */
  async function same(bytes: Buffer) {
    const lean = await exchange(bytes, "lean");
    leanExchanges++;
    const stock = await exchange(bytes, "stock");
    expect(lean).toEqual(stock);
    return lean;
  }

  it("should ack each batch in order and end cleanly", async () => {
    const outcome = await same(Buffer.concat([envelope(0, batch("events.framing.a", "events.framing.b")), envelope(0, batch("events.framing.c"))]));
    expect(outcome).toEqual({ status: 200, acks: [2, 1], end: {} });
  });

  it("should end with INVALID_ARGUMENT naming the field after acking the batches before a refused one", async () => {
    const outcome = await same(Buffer.concat([envelope(0, batch("events.framing.a")), envelope(0, batch("events.framing.b", "events.Bad"))]));
    expect(outcome.acks).toEqual([1]);
    expect(outcome.end).toMatchObject({
      error: { code: "invalid_argument", message: 'envelopes[1].topic: segment 2 "Bad" of "events.Bad" must match [a-z0-9_-]+' },
    });
  });

  it("should refuse a compressed envelope, an oversized one and undecodable bytes as connect-node does", async () => {
    const compressed = await same(envelope(0b01, batch("events.framing.a")));
    expect(compressed.end).toMatchObject({ error: { code: "internal" } });
    const oversized = await same(envelope(0, batch("events.framing.a"), 2 ** 31));
    expect(oversized.acks).toEqual([]);
    expect(oversized.end).toMatchObject({ error: { code: "resource_exhausted" } });
    const garbage = await same(Buffer.concat([envelope(0, batch("events.framing.a")), envelope(0, Buffer.from([0x0a, 0x05, 0x0a]))]));
    expect(garbage.acks).toEqual([1]);
    expect(garbage.end).toMatchObject({ error: { code: "internal" } });
  });

  it("should read envelopes that arrive split over many small DATA frames", async () => {
    const bytes = Buffer.concat([
      envelope(0, batch("events.framing.a", "events.framing.b")),
      envelope(0, batch("events.framing.c")),
      envelope(0, batch("events.Bad")),
    ]);
    const whole = await same(bytes);
    const lean = await exchange(bytes, "lean", 7);
    leanExchanges++;
    expect(lean).toEqual(whole);
    expect(lean.acks).toEqual([2, 1]);
  });

  it("should refuse a request cut off inside an envelope, and skip an end-of-stream envelope from the client", async () => {
    const whole = envelope(0, batch("events.framing.a"));
    const cut = await same(Buffer.concat([whole, whole.subarray(0, whole.length - 3)]));
    expect(cut.acks).toEqual([1]);
    expect((cut.end as { error?: unknown }).error).toBeDefined();
    const flagged = await same(
      Buffer.concat([
        whole,
        envelope(0b10, batch("events.framing.b", "events.framing.b")),
        envelope(0, batch("events.framing.c", "events.framing.c", "events.framing.c")),
      ]),
    );
    expect(flagged).toEqual({ status: 200, acks: [1, 3], end: {} });
  });

  it("should answer a call with a deadline as one without, and refuse a malformed deadline as connect-node does", async () => {
    const bytes = envelope(0, batch("events.framing.deadline"));
    const lean = await exchange(bytes, "lean", bytes.length, "60000");
    const stock = await exchange(bytes, "stock", bytes.length, "60000");
    expect(lean).toEqual(stock);
    expect(lean.end).toEqual({});
    const badLean = await exchange(bytes, "lean", bytes.length, "soon");
    const badStock = await exchange(bytes, "stock", bytes.length, "soon");
    expect(badLean).toEqual(badStock);
    expect((badLean.end as { error?: { code?: string } }).error?.code).toBe("invalid_argument");
    // The malformed deadline is refused before the call is served: one more stream served.
    leanExchanges += 1;
  });

  it("should have served every call on the lean path, and none with --no-lean-paths (its debug log line per stream)", async () => {
    const leanStreams = (of: BrokerProcess) => of.logs.filter((line) => line.msg === "PublishStream on the lean path").length;
    expect(leanExchanges).toBeGreaterThan(0);
    await eventually("a log line per lean stream", () => leanStreams(broker) >= leanExchanges);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(leanStreams(broker)).toBe(leanExchanges);
    expect(leanStreams(stockBroker)).toBe(0);
  });
});

describe("a lean PublishStream when the broker shuts down", () => {
  it("should ack what it accepted and end with UNAVAILABLE", async () => {
    const broker = await startBrokerProcess();
    const client = createCorrelationClient({ socketPath: broker.socketPath, sourceProcess: "shutdown" });
    try {
      async function* endless() {
        for (;;) {
          yield { envelopes: [client.envelope("events.framing.shutdown", "x")] };
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      }
      let acked = 0n;
      let stopping: Promise<number | null> | undefined;
      const error = await (async () => {
        for await (const ack of client.service.publishStream(endless())) {
          acked = ack.eventIds[ack.eventIds.length - 1];
          stopping ??= broker.stop();
        }
      })().then(
        () => undefined,
        (caught: unknown) => ConnectError.from(caught),
      );
      expect([error?.code, error?.rawMessage]).toEqual([Code.Unavailable, "broker shutting down"]);
      expect(await stopping).toBe(0);
      const stopped = broker.logs.find((line) => line.msg === "stopped") as { stats?: { lastEventId?: number } } | undefined;
      // Every event the broker took was acked before the end.
      expect(BigInt(stopped?.stats?.lastEventId ?? -1)).toBe(acked);
    } finally {
      client.close();
      await broker.stop();
    }
  });
});
