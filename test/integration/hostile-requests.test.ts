import * as http2 from "node:http2";
import { connect } from "node:net";
import { create, toBinary } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PublishRequestSchema } from "../../gen/corrbus/v1/service_pb.js";
import { type BrokerProcess, startBrokerProcess } from "../helpers/broker-process.js";
import { spawnFixture } from "../helpers/fixture-process.js";

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

  it("should survive a request with an unparsable path and keep serving", async () => {
    const answer = await rawRequest(broker.socketPath, { ":method": "POST", ":path": "//[", ":authority": "%", "content-type": "application/proto" }, publishBody);
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
      const closed = sockets.map((socket) => new Promise<number>((resolve) => {
        const opened = Date.now();
        socket.on("error", () => {});
        socket.once("close", () => resolve(Date.now() - opened));
      }));
      // Three are over the cap: closed at once. Five say nothing: closed after the silent timeout.
      const lifetimes = await Promise.all(closed);
      expect(lifetimes.filter((ms) => ms >= 250)).toHaveLength(5);
      const stats = spawnFixture("stats", ["--socket", broker.socketPath]);
      expect(await stats.exited).toBe(0);
      expect(stats.messages[0]).toMatchObject({ connectionsRefused: "3", connectionsSilentClosed: "5" });
    } finally {
      await broker.stop();
    }
  });
});
