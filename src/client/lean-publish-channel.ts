import * as http2 from "node:http2";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Http2SessionManager } from "@connectrpc/connect-node";
import { type PublishStreamRequest, PublishStreamResponseSchema } from "../../gen/corrbus/v1/service_pb.js";
import { EnvelopeSplitter, connectEnvelope, endStreamFlag } from "../wire/connect-envelope.js";
import { endStreamFromJson } from "../wire/connect-internals.js";
import { messageDecoder } from "../wire/message-decoder.js";
import { encodePublishStreamRequest } from "../wire/publish-request-encoder.js";
import { connectionLostError } from "./connection-lost.js";
import { streamingResponseRefusal } from "./envelope-reader.js";
import { openLeanStream } from "./lean-stream.js";
import type { OpenPublishChannel, PublishChannel, PublishChannelEvents } from "./publish-channel.js";

const publishStreamPath = "/corrbus.v1.CorrelationService/PublishStream";
const ackDecoder = messageDecoder(PublishStreamResponseSchema);

/**
 * PublishStream calls for a stream publisher, on the HTTP/2 stream itself:
 * a batch is encoded and written when it is sent, each ack handed over as
 * its bytes arrive. The same bytes on the wire as the lean `publishStream`
 * (lean-publish-stream.ts), without its two async iterables between the
 * publisher and the socket, whose promise hops were about half of the
 * client's own time in a sequential `publish()`.
 *
 * Writes are not held back when the stream's buffer is full: the publisher
 * bounds the batches in flight (maxBatchesInFlight), and so what is buffered.
 * Errors are Connect's, as lean-publish-stream.ts reports them.
 */
export function leanPublishChannel(sessionManager: Http2SessionManager, socketPath: string, writeMaxBytes: number): OpenPublishChannel {
  return (events) => new LeanPublishChannel(sessionManager, socketPath, writeMaxBytes, events);
}

class LeanPublishChannel implements PublishChannel {
  private stream: http2.ClientHttp2Stream | undefined;
  /** Framed batches sent before the stream opened. */
  private readonly unsent: Uint8Array[] = [];
  private readonly envelopes = new EnvelopeSplitter();
  private ending = false;
  private done = false;

  constructor(
    private readonly sessionManager: Http2SessionManager,
    private readonly socketPath: string,
    private readonly writeMaxBytes: number,
    private readonly events: PublishChannelEvents,
  ) {
    openLeanStream(sessionManager, socketPath, publishStreamPath, "application/connect+proto", {}).then(
      (stream) => this.opened(stream),
      (error: unknown) => this.finish(ConnectError.from(error)),
    );
  }

  send(request: PublishStreamRequest): void {
    if (this.done || this.ending) return;
    const body = encodePublishStreamRequest(request);
    // As the stock client refuses it: the broker would reset such a stream (ENHANCE_YOUR_CALM), which tells the caller less.
    if (body.length > this.writeMaxBytes) {
      this.fail(new ConnectError(`message size ${body.length} is larger than configured writeMaxBytes ${this.writeMaxBytes}`, Code.ResourceExhausted));
      return;
    }
    const frame = connectEnvelope(0, body);
    if (this.stream === undefined) this.unsent.push(frame);
    else this.stream.write(frame);
  }

  end(): void {
    if (this.ending) return;
    this.ending = true;
    if (this.stream !== undefined && !this.stream.closed && !this.stream.destroyed) this.stream.end();
  }

  fail(error: ConnectError): void {
    this.finish(error);
  }

  private opened(stream: http2.ClientHttp2Stream): void {
    if (this.done) {
      stream.close(http2.constants.NGHTTP2_CANCEL);
      return;
    }
    this.stream = stream;
    stream.on("response", (headers) => {
      const refusal = streamingResponseRefusal(headers);
      if (refusal !== undefined) this.finish(refusal);
    });
    stream.on("data", (chunk: Buffer) => this.received(chunk));
    stream.on("error", (error) => this.finish(connectionLostError(ConnectError.from(error, Code.Unavailable), this.socketPath, false)));
    const ended = () => this.finish(new ConnectError("the broker ended the stream without an end-of-stream message", Code.Unavailable));
    stream.on("end", ended);
    stream.on("close", ended);
    for (const frame of this.unsent.splice(0)) stream.write(frame);
    if (this.ending) stream.end();
  }

  private received(chunk: Buffer): void {
    this.sessionManager.notifyResponseByteRead(this.stream as http2.ClientHttp2Stream);
    this.envelopes.push(chunk);
    for (let envelope = this.envelopes.next(); envelope !== undefined && !this.done; envelope = this.envelopes.next()) {
      if ((envelope.flags & endStreamFlag) !== 0) {
        this.finish(endStreamFromJson(envelope.data).error);
        return;
      }
      let ack: ReturnType<typeof ackDecoder.decode>;
      try {
        ack = ackDecoder.decode(envelope.data);
      } catch (error) {
        this.finish(ConnectError.from(error, Code.Internal));
        return;
      }
      try {
        this.events.ack(ack);
      } catch (error) {
        // The publisher's own failure: it ends this call, never the process (this runs in a socket's data event).
        this.finish(ConnectError.from(error, Code.Internal));
        return;
      }
    }
  }

  /** Reports the end once and lets the stream go. */
  private finish(error: ConnectError | undefined): void {
    if (this.done) return;
    this.done = true;
    const stream = this.stream;
    if (stream !== undefined && !stream.closed) stream.close(error === undefined ? http2.constants.NGHTTP2_NO_ERROR : http2.constants.NGHTTP2_CANCEL);
    this.events.end(error);
  }
}
