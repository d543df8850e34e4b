import * as http2 from "node:http2";
import { connect } from "node:net";
import { create, toBinary } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PublishRequestSchema } from "../../gen/corrbus/v1/service_pb.js";
import { type BrokerProcess, startBrokerProcess } from "../helpers/broker-process.js";
import { messagesOf, spawnFixture } from "../helpers/fixture-process.js";

/** One raw HTTP/2 request on the broker's socket; answers status and body. */
function rawRequest(socketPath: string, headers: http2.OutgoingHttpHeaders, body: Uint8Array): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect("http://localhost", { createConnection: () => connect(socketPath) });
    session.on("error", reject);
    const stream = session.request(headers);
    const chunks: Buffer[] = [];
    let status = 0;
    stream.on("response", (response) => (status = Number(response[":status"])));
    stream.on("data", (chunk) => chunks.push(chunk));
    stream.on("end", () => {
      session.close();
      resolve({ status, body: Buffer.concat(chunks) });
    });
    stream.on("error", reject);
    stream.end(body);
  });
}

describe("requests a well-behaved client would not send", () => {
  let broker: BrokerProcess;

  beforeAll(async () => {
    broker = await startBrokerProcess();
  });

  afterAll(async () => {
    await broker.stop();
  });

  const publishBody = toBinary(PublishRequestSchema, create(PublishRequestSchema, { envelope: { topic: "events.test.raw" } }));

  it("should serve a request whose :authority is a percent-encoded socket path (gRPC C core does this)", async () => {
    const answer = await rawRequest(
      broker.socketPath,
      { ":method": "POST", ":path": "/corrbus.v1.CorrelationService/Publish", ":authority": "tmp%2Fx%2Fcorrbus.sock", "content-type": "application/proto" },
      publishBody,
    );
    expect(answer.status).toBe(200);
  });

  it("should refuse a tag key __proto__ by name on the Connect binary path", async () => {
    const id = crypto.randomUUID();
    const request = create(PublishRequestSchema, {
      envelope: { topic: "events.test.raw", correlationMetadata: { correlationId: id, rootCorrelationId: id, correlationTags: { investigation_id: "INC-1" } } },
    });
    const tags = request.envelope?.correlationMetadata?.correlationTags as Record<string, string>;
    Object.defineProperty(tags, "__proto__", { value: "p", enumerable: true, writable: true, configurable: true });
    const body = toBinary(PublishRequestSchema, request);
    const answer = await rawRequest(
      broker.socketPath,
      { ":method": "POST", ":path": "/corrbus.v1.CorrelationService/Publish", "content-type": "application/proto" },
      body,
    );
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body.toString())).toMatchObject({
      code: "invalid_argument",
      message: 'correlation_metadata.correlation_tags: the tag key "__proto__" is reserved (a map of the TypeScript protobuf runtime cannot keep it)',
    });
  });

  it("should survive a request with an unparsable path and keep serving", async () => {
    const answer = await rawRequest(
      broker.socketPath,
      { ":method": "POST", ":path": "//[", ":authority": "%", "content-type": "application/proto" },
      publishBody,
    );
    expect([404, 500]).toContain(answer.status);
    const publisher = spawnFixture("publisher", ["--socket", broker.socketPath]);
    expect(await publisher.exited).toBe(0);
    expect(broker.child.exitCode).toBeNull();
  });
});

describe("connections a well-behaved client would not open", () => {
  it("should cap open connections, close silent ones, count both, and keep serving", async () => {
    const broker = await startBrokerProcess(["--in-memory", "--max-connections", "5", "--silent-timeout-ms", "300"]);
    try {
      const sockets = Array.from({ length: 8 }, () => connect(broker.socketPath));
      const closed = sockets.map(
        (socket) =>
          new Promise<number>((resolve) => {
            const opened = Date.now();
            socket.on("error", () => {});
            socket.once("close", () => resolve(Date.now() - opened));
          }),
      );
      // Three are over the cap: closed at once. Five say nothing: closed after the silent timeout, never before
      // (the broker's counters tell the two apart; how soon "at once" is depends on the machine's load).
      const lifetimes = await Promise.all(closed);
      expect(lifetimes.filter((ms) => ms >= 250).length).toBeGreaterThanOrEqual(5);
      const stats = spawnFixture("stats", ["--socket", broker.socketPath]);
      expect(await stats.exited).toBe(0);
      expect(stats.messages[0]).toMatchObject({ connectionsRefused: "3", connectionsSilentClosed: "5" });
    } finally {
      await broker.stop();
    }
  });

  it("should close a connection that does not complete its HTTP/2 preface or HTTP/1.1 request head in time, whatever bytes it sent", async () => {
    const broker = await startBrokerProcess(["--in-memory", "--max-connections", "6", "--silent-timeout-ms", "300"]);
    try {
      // An idle subscriber with a live HTTP/2 stack: it answers pings, so it stays.
      const subscriber = spawnFixture("subscriber", ["--socket", broker.socketPath, "--pattern", "events.#", "--max", "1"]);
      await subscriber.waitFor("ready");
      const halfOpen = {
        "one byte (P)": "P",
        "part of the HTTP/2 preface": "PRI * HTTP/2.0\r\n",
        "the whole preface, no SETTINGS": "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        "an HTTP/1.1 request head without its end": "POST /corrbus.v1.CorrelationService/GetStats HTTP/1.1\r\nHost: x\r\n",
      };
      // The attack run held every slot this way: fresh clients were then refused for good.
      const closed = Object.entries(halfOpen).map(([what, bytes]) => closedBy(broker.socketPath, what, [bytes]));
      const keptAlive = closedBy(broker.socketPath, "a second HTTP/1.1 request head without its end", [
        "POST /corrbus.v1.CorrelationService/GetStats HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
        "POST /corrbus.v1.CorrelationService/GetStats HTTP/1.1\r\nHo",
      ]);
      const outcomes = await Promise.all([...closed, keptAlive]);
      for (const outcome of outcomes) expect(outcome).toMatchObject({ closedByBroker: true });
      // The complete first request was answered before its keep-alive connection was closed.
      expect(outcomes.at(-1)?.received).toMatch(/^HTTP\/1\.1 200 OK/);

      // The slots are free again: a fresh client is served, and the idle subscriber is still there.
      const publisher = spawnFixture("publisher", ["--socket", broker.socketPath, "--topic", "events.after.half-open"]);
      expect(await publisher.exited).toBe(0);
      expect(await subscriber.exited).toBe(0);
      expect(messagesOf(subscriber, "event").map((event) => event.topic)).toEqual(["events.after.half-open"]);
      const stats = spawnFixture("stats", ["--socket", broker.socketPath]);
      expect(await stats.exited).toBe(0);
      expect(Number(stats.messages[0].connectionsSilentClosed)).toBeGreaterThanOrEqual(5);
    } finally {
      await broker.stop();
    }
  });
});

/**
 * Connects, writes `chunks` (one after the other, the next once something came back), then waits
 * for the broker to close the connection (at most 15 s: generous, the deadline is 300 ms).
 */
function closedBy(socketPath: string, what: string, chunks: string[]): Promise<{ what: string; closedByBroker: boolean; received: string }> {
  return new Promise((resolve) => {
    const socket = connect(socketPath);
    let received = "";
    const pending = [...chunks];
    const giveUp = setTimeout(() => {
      socket.destroy();
      resolve({ what, closedByBroker: false, received });
    }, 15_000);
    socket.on("connect", () => socket.write(pending.shift() as string));
    socket.on("data", (data) => {
      received += data.toString("latin1");
      if (pending.length > 0) socket.write(pending.shift() as string);
    });
    socket.on("error", () => {});
    socket.once("close", () => {
      clearTimeout(giveUp);
      resolve({ what, closedByBroker: true, received });
    });
  });
}
