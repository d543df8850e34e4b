import * as http2 from "node:http2";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Http2SessionManager } from "@connectrpc/connect-node";
import { type ConnectEnvelope, EnvelopeSplitter } from "../wire/connect-envelope.js";
import { codeFromHttpStatus } from "../wire/connect-internals.js";
import { connectionLostError } from "./connection-lost.js";

/**
 * The Connect envelopes of a lean streaming call's response, queued until
 * read. The queue is bounded by bytes: past `maxQueuedBytes` the HTTP/2 stream
 * pauses, so the broker's sending waits on its flow-control window instead of
 * filling this process's memory; it resumes when the reader has taken half.
 */
export class EnvelopeReader {
  private readonly frames: ConnectEnvelope[] = [];
  private readonly envelopes = new EnvelopeSplitter();
  private queuedBytes = 0;
  private failure: ConnectError | undefined;
  private ended = false;
  private wake: (() => void) | undefined;

  constructor(
    private readonly stream: http2.ClientHttp2Stream,
    sessionManager: Http2SessionManager,
    socketPath: string,
    private readonly maxQueuedBytes: number,
  ) {
    stream.on("response", (headers) => {
      const refusal = streamingResponseRefusal(headers);
      if (refusal !== undefined) this.fail(refusal);
    });
    stream.on("data", (chunk: Buffer) => {
      sessionManager.notifyResponseByteRead(stream);
      this.envelopes.push(chunk);
      for (let envelope = this.envelopes.next(); envelope !== undefined; envelope = this.envelopes.next()) {
        this.frames.push(envelope);
        this.queuedBytes += envelope.data.length;
      }
      if (this.queuedBytes >= this.maxQueuedBytes) stream.pause();
      this.notify();
    });
    stream.on("end", () => this.end());
    stream.on("error", (error) => this.fail(connectionLostError(ConnectError.from(error, Code.Unavailable), socketPath, false)));
    stream.on("close", () => this.end());
  }

  /** Ends the call with `error` (the first one given wins); the stream is cancelled. */
  fail(error: ConnectError): void {
    this.failure ??= error;
    if (!this.stream.closed) this.stream.close(http2.constants.NGHTTP2_CANCEL);
    this.notify();
  }

  /** The next envelope; throws the call's failure, or UNAVAILABLE when the stream ended without an end-of-stream message. */
  async next(): Promise<ConnectEnvelope> {
    for (;;) {
      if (this.failure !== undefined) throw this.failure;
      const frame = this.frames.shift();
      if (frame !== undefined) {
        this.queuedBytes -= frame.data.length;
        if (this.queuedBytes < this.maxQueuedBytes / 2 && this.stream.isPaused()) this.stream.resume();
        return frame;
      }
      if (this.ended) throw new ConnectError("the broker ended the stream without an end-of-stream message", Code.Unavailable);
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private end(): void {
    this.ended = true;
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

/** What a streaming call's response head says against going on: a status other than 200 or a content type other than Connect's. */
export function streamingResponseRefusal(headers: http2.IncomingHttpHeaders): ConnectError | undefined {
  const status = Number(headers[":status"]);
  const contentType = String(headers["content-type"] ?? "");
  if (status !== 200) return new ConnectError(`HTTP ${status}`, codeFromHttpStatus(status));
  if (!contentType.startsWith("application/connect+proto")) return new ConnectError(`unexpected content type "${contentType}"`, Code.Internal);
  return undefined;
}
