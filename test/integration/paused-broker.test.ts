import * as http2 from "node:http2";
import { type Socket, connect } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { fromBinary } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { GetStatsResponseSchema } from "../../gen/corrbus/v1/service_pb.js";
import { type BrokerProcess, startBrokerProcess } from "../helpers/broker-process.js";

/**
 * On a busy machine a broker may not run for longer than its silent deadline.
 * What a client sent in time then waits unread, and Node runs due timers
 * before it reads sockets: the broker closed live clients for a silence that
 * was its own (an idle subscriber lost its subscription in the fuzz run under
 * CI's load). SIGSTOP makes that pause exact.
 */
describe("a broker paused past its silent deadline", () => {
  let broker: BrokerProcess | undefined;

  /** A broker whose silent deadline is `silentTimeoutMs` (pings after half of it, answers due in the other half). */
  async function start(silentTimeoutMs: number): Promise<BrokerProcess> {
    broker = await startBrokerProcess(["--in-memory", "--silent-timeout-ms", String(silentTimeoutMs)]);
    return broker;
  }

  afterEach(async () => {
    if (broker === undefined) return;
    process.kill(broker.child.pid as number, "SIGCONT");
    await broker.stop();
    broker = undefined;
  });

  const pause = () => process.kill(broker?.child.pid as number, "SIGSTOP");
  const resume = () => process.kill(broker?.child.pid as number, "SIGCONT");

  it("should keep an idle client whose answer to a ping came in time, read only after the pause", async () => {
    // Half a second for the answer: an idle client on a loaded machine gives it in time.
    const silentTimeoutMs = 1000;
    const broker = await start(silentTimeoutMs);
    const session = http2.connect("http://localhost", { createConnection: () => connect(broker.socketPath) });
    const closed = closing(session);
    try {
      await getStats(session);
      // Node's HTTP/2 sends the answer once this listener returns: the broker is stopped before it can read it.
      const pinged = new Promise<void>((resolve) => session.once("ping", () => (pause(), resolve())));
      await pinged;
      await sleep(3 * silentTimeoutMs);
      resume();
      // Past another ping round: the session is still open and serves.
      await sleep(silentTimeoutMs);
      await expectKept(session, closed);
    } finally {
      resume();
      session.destroy();
    }
  });

  it("should keep a client whose HTTP/2 start came in time, read only after the pause", async () => {
    // Shorter: at 1000 ms the broker before the fix let this client in too, so the test would not tell the two apart.
    const silentTimeoutMs = 400;
    const broker = await start(silentTimeoutMs);
    const socket = connect(broker.socketPath);
    await new Promise((resolve) => socket.once("connect", resolve));
    // Accepted by now (an idle broker accepts at once): its start deadline runs.
    await sleep(100);
    pause();
    const session = http2.connect("http://localhost", { createConnection: () => socket as Socket });
    const closed = closing(session);
    try {
      // The preface and SETTINGS reach the stopped broker's socket.
      await sleep(3 * silentTimeoutMs);
      resume();
      await expectKept(session, closed);
    } finally {
      resume();
      session.destroy();
    }
  });

  it("should still close a session that never answers a ping", async () => {
    const silentTimeoutMs = 400;
    const broker = await start(silentTimeoutMs);
    // A peer that completes its start and then answers nothing: its pings go unanswered.
    const socket = connect(broker.socketPath);
    socket.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    socket.write(Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]));
    socket.on("data", () => {});
    const closed = new Promise((resolve) => socket.once("close", () => resolve("closed")));
    socket.on("error", () => {});
    expect(await Promise.race([closed, sleep(10 * silentTimeoutMs, "open")])).toBe("closed");
  });
});

/** Resolves "closed" once the session closes. */
function closing(session: http2.ClientHttp2Session): Promise<string> {
  session.on("error", () => {});
  return new Promise((resolve) => session.once("close", () => resolve("closed")));
}

/** `session` still open and serving, and the broker closed no connection for silence. */
async function expectKept(session: http2.ClientHttp2Session, closed: Promise<string>): Promise<void> {
  const stats = await getStats(session);
  expect(await Promise.race([closed, sleep(0, "open")])).toBe("open");
  expect(stats.connectionsSilentClosed).toBe(0n);
}

/** GetStats on `session`, over the Connect protocol in binary. */
function getStats(session: http2.ClientHttp2Session) {
  return new Promise<ReturnType<typeof fromBinary<typeof GetStatsResponseSchema>>>((resolve, reject) => {
    const stream = session.request({ ":method": "POST", ":path": "/corrbus.v1.CorrelationService/GetStats", "content-type": "application/proto" });
    const chunks: Buffer[] = [];
    stream.on("response", (headers) => {
      if (headers[":status"] !== 200) reject(new Error(`GetStats answered ${headers[":status"]}`));
    });
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("end", () => resolve(fromBinary(GetStatsResponseSchema, Buffer.concat(chunks))));
    stream.on("error", reject);
    stream.end();
  });
}
