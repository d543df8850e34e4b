import { once } from "node:events";
import * as http2 from "node:http2";
import { connect } from "node:net";
import { spawnWorker } from "./worker-process.js";

/** One kind of round trip, ready to be called again and again. */
export interface RoundTrip {
  call(): Promise<void>;
  close(): void;
}

/** The floor-server child process: a raw echo socket and a raw node:http2 socket. */
export interface FloorServer {
  readonly echoSocket: string;
  readonly http2Socket: string;
  stop(): Promise<unknown>;
}

/** Starts bench/floor-server.js and waits until both sockets listen. */
export async function startFloorServer(): Promise<FloorServer> {
  const worker = spawnWorker("floor-server.js", []);
  try {
    const ready = await worker.waitFor("ready", 15_000);
    return { echoSocket: ready.echoSocket as string, http2Socket: ready.http2Socket as string, stop: () => worker.stop() };
  } catch (error) {
    await worker.stop();
    throw error;
  }
}

/**
 * Round trips of `bytes` through the raw Unix-socket echo server: write, then
 * wait until as many bytes came back.
 */
export async function connectEcho(socketPath: string, bytes: Uint8Array): Promise<RoundTrip> {
  const socket = connect(socketPath);
  await once(socket, "connect");
  let waiting: { remaining: number; resolve: () => void } | undefined;
  socket.on("data", (chunk: Buffer) => {
    if (waiting === undefined) return;
    waiting.remaining -= chunk.length;
    if (waiting.remaining <= 0) {
      const { resolve } = waiting;
      waiting = undefined;
      resolve();
    }
  });
  return {
    call: () =>
      new Promise<void>((resolve) => {
        waiting = { remaining: bytes.length, resolve };
        socket.write(bytes);
      }),
    close: () => socket.destroy(),
  };
}

/**
 * Raw node:http2 POSTs of `bytes` on one session over a Unix socket, each
 * answered with the same bytes: the transport Publish rides on, without Connect.
 */
export async function connectHttp2(socketPath: string, bytes: Uint8Array): Promise<RoundTrip> {
  const session = http2.connect("http://localhost", { createConnection: () => connect(socketPath) });
  await once(session, "connect");
  const headers = { ":method": "POST", ":path": "/corrbus.v1.CorrelationService/Publish", "content-type": "application/proto" };
  return {
    call: () =>
      new Promise<void>((resolve, reject) => {
        const request = session.request(headers);
        let received = 0;
        request.on("data", (chunk: Buffer) => (received += chunk.length));
        request.on("end", () => (received === bytes.length ? resolve() : reject(new Error(`echoed ${received} of ${bytes.length} bytes`))));
        request.on("error", reject);
        request.end(bytes);
      }),
    close: () => session.close(),
  };
}
