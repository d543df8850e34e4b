import type * as http from "node:http";
import type * as http2 from "node:http2";
import { type Server, type Socket, createServer } from "node:net";

/** Every HTTP/2 connection starts with this preface ("PRI * HTTP/2.0…"). */
const preface = Buffer.from("PRI");

/**
 * One socket, two protocols: reads the first bytes of each connection and hands
 * it to the HTTP/2 server when they are the HTTP/2 preface, else to the
 * HTTP/1.1 server. Node's cleartext HTTP/2 server ignores `allowHTTP1`, and
 * tools without HTTP/2 (plain curl, shell scripts) still want Connect JSON.
 * The bytes read are pushed back, so either server sees the whole stream.
 */
export function createProtocolSniffingServer(
  http1: http.Server,
  h2: http2.Http2Server,
  /** Decides on each new connection; false closes it. */
  admit: (socket: Socket) => boolean = () => true,
): Server {
  return createServer((socket) => {
    if (!admit(socket)) return;
    let seen = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      seen = Buffer.concat([seen, chunk]);
      if (seen.length < preface.length && preface.subarray(0, seen.length).equals(seen)) return;
      socket.off("data", onData);
      socket.pause();
      socket.unshift(seen);
      const target: http.Server | http2.Http2Server = seen.subarray(0, preface.length).equals(preface) ? h2 : http1;
      target.emit("connection", socket);
      // The HTTP/2 session reads the pushed-back bytes itself; HTTP/1.1 reads on resume.
      if (target === http1) socket.resume();
    };
    socket.on("data", onData);
    socket.on("error", () => socket.destroy());
  });
}
