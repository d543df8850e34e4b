import type * as http2 from "node:http2";
import { Code, ConnectError } from "@connectrpc/connect";
import { codeToHttpStatus, errorToJsonBytes } from "../wire/connect-internals.js";

/**
 * The pieces of a unary call served on a raw HTTP/2 stream with the Connect
 * protocol (binary, uncompressed): the body, the answer and Connect's error
 * format.
 */

/** Reads the request body (at most `readMaxBytes`, else RESOURCE_EXHAUSTED) and hands it to `onBody`. */
export function readBody(stream: http2.ServerHttp2Stream, readMaxBytes: number, onBody: (body: Buffer) => void): void {
  const chunks: Buffer[] = [];
  let length = 0;
  let tooLarge = false;
  // A reset or broken stream has nobody to answer.
  stream.on("error", () => {});
  stream.on("data", (chunk: Buffer) => {
    length += chunk.length;
    if (length > readMaxBytes) tooLarge = true;
    else chunks.push(chunk);
  });
  stream.on("end", () => {
    if (tooLarge) {
      answerError(stream, new ConnectError(`message size ${length} is larger than configured readMaxBytes ${readMaxBytes}`, Code.ResourceExhausted));
      return;
    }
    try {
      onBody(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, length));
    } catch (error) {
      // Nothing a request does may take the broker down (a stream already reset has no session, for one).
      answerError(stream, ConnectError.from(error, Code.Internal));
    }
  });
}

/** Answers 200 with `body`, or with its parts one after another (see encodeInParts); `responded` when the 200 was sent already. */
export function answer(stream: http2.ServerHttp2Stream, body: Uint8Array | readonly Uint8Array[], responded = false): void {
  if (stream.destroyed || stream.closed) return;
  if (!responded) stream.respond({ ":status": 200, "content-type": "application/proto" });
  if (body instanceof Uint8Array) {
    writeThenEnd(stream, body);
    return;
  }
  for (let index = 0; index < body.length - 1; index++) stream.write(body[index]);
  writeThenEnd(stream, body[body.length - 1]);
}

export function answerError(stream: http2.ServerHttp2Stream, error: ConnectError): void {
  if (stream.destroyed || stream.closed) return;
  stream.respond({ ":status": codeToHttpStatus(error.code), "content-type": "application/json" });
  writeThenEnd(stream, errorToJsonBytes(error, {}));
}

/**
 * The body, then the end of the stream once the body's write completed.
 * `end(body)` let the client's END_STREAM close (and destroy) the stream
 * before the write's callback ran, and Node's writable then built an
 * ERR_STREAM_DESTROYED, stack trace and all, on every call.
 */
function writeThenEnd(stream: http2.ServerHttp2Stream, body: Uint8Array): void {
  stream.write(body, (error) => {
    if (error == null) stream.end();
  });
}
