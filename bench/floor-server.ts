// Child process: the same-run floor. A raw `net` echo server and a raw
// `node:http2` server answering every POST with its request body, each on its
// own Unix socket in a fresh temporary directory. Prints
// {"type":"ready","echoSocket":…,"http2Socket":…}; exits on SIGTERM or when
// stdin closes, removing the directory.
import { mkdtempSync, rmSync } from "node:fs";
import * as http2 from "node:http2";
import { type Server, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nextCommand, report } from "./worker-channel.js";

const directory = mkdtempSync(join(tmpdir(), "corrbus-floor-"));
const echoSocket = join(directory, "echo.sock");
const http2Socket = join(directory, "http2.sock");

const echo = createServer((socket) => {
  socket.on("data", (chunk) => socket.write(chunk));
  socket.on("error", () => socket.destroy());
});

const h2 = http2.createServer();
h2.on("stream", (stream, headers) => {
  const chunks: Buffer[] = [];
  stream.on("data", (chunk: Buffer) => chunks.push(chunk));
  stream.on("end", () => {
    stream.respond({ ":status": 200, "content-type": headers["content-type"] ?? "application/octet-stream" });
    stream.end(Buffer.concat(chunks));
  });
  stream.on("error", () => {});
});

await Promise.all([listen(echo, echoSocket), listen(h2, http2Socket)]);
report({ type: "ready", echoSocket, http2Socket });

const stop = () => {
  echo.close();
  h2.close();
  rmSync(directory, { recursive: true, force: true });
  process.exit(0);
};
process.once("SIGTERM", stop);
for (;;) {
  const command = await nextCommand();
  if (command === "" || command === "stop") stop();
}

function listen(server: Server | http2.Http2Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => resolve());
  });
}
