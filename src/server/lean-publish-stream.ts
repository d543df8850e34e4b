import type * as http2 from "node:http2";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { endStreamToJson } from "../wire/connect-internals.js";
import { CorrelationService, type PublishStreamRequest, type PublishStreamResponse, PublishStreamResponseSchema } from "../../gen/corrbus/v1/service_pb.js";
import { type ConnectEnvelope, EnvelopeSplitter, compressedFlag, connectEnvelope, drained, endStreamFlag } from "../wire/connect-envelope.js";
import { messageEncoder } from "../wire/message-encoder.js";
import { PublishedEnvelopeDecoder } from "../wire/published-envelope-decoder.js";
import type { Logger } from "./logger.js";
import { type LeanCallOptions, isLeanCall, leanCallContext } from "./lean-call.js";
import { peerIdentityKey } from "./peer-identity.js";

const ackEncoder = messageEncoder(PublishStreamResponseSchema);
const publishStreamPath = `/${CorrelationService.typeName}/${CorrelationService.method.publishStream.name}`;
/** Decoded batches waiting for the handler before the stream stops reading (the handler bounds what it holds itself). */
const maxQueuedBatches = 2;

/** How the lean PublishStream is set up: the lean calls' options and where to log. */
export interface LeanPublishStreamOptions extends LeanCallOptions {
  logger: Logger;
}

/**
 * PublishStream over the Connect protocol (binary, uncompressed) on the raw
 * HTTP/2 stream, with the lean calls' one policy (leanCallContext): the service's own handler (ordering,
 * the ack pipeline, the ingest budget, errors), fed with batches read from
 * Connect envelopes and decoded by PublishedEnvelopeDecoder, which
 * recognises a correlation's metadata repeated through a batch instead of
 * decoding its strings and tags again. Acks go out as Connect envelopes, the end (and any
 * error) as Connect's end-of-stream message, with connect-node's messages and
 * codes for malformed input. gRPC, JSON and compression go to the adapter.
 *
 * Answers false when the stream is not such a call.
 */
export function createLeanPublishStream(
  service: ServiceImpl<typeof CorrelationService>,
  options: LeanPublishStreamOptions,
): (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => boolean {
  return (stream, headers) => {
    if (headers[":path"] !== publishStreamPath || !isLeanCall(headers, "application/connect+proto", "connect-content-encoding")) return false;
    // A reset or broken stream has nobody to answer; "close" ends the call. Before anything that may throw.
    stream.on("error", () => {});
    // Node hands a stream over on the tick after its HEADERS: its session may have died meanwhile.
    if (stream.destroyed || stream.closed) return true;
    const { context, error } = leanCallContext(stream, headers, CorrelationService.method.publishStream, "application/connect+proto", options);
    stream.respond({ ":status": 200, "content-type": "application/connect+proto" });
    if (error !== undefined) {
      stream.end(connectEnvelope(endStreamFlag, endStreamBytes(error)));
      return true;
    }
    // One line per stream (collectors keep theirs open): which path served it, for operators and tests.
    options.logger.log("debug", "PublishStream on the lean path", { pid: context.values.get(peerIdentityKey).pid });
    const requests = new BatchReader(stream, options.readMaxBytes);
    // The client leaving or the broker shutting down ends the requests; accepted batches are still acked.
    context.signal.addEventListener("abort", () => requests.fail(ConnectError.from(context.signal.reason, Code.Canceled)), { once: true });
    writeAcks(stream, service.publishStream(requests, context) as AsyncIterable<PublishStreamResponse>)
      // Nothing a stream does may take the broker down.
      .catch((error: unknown) => options.logger.log("warn", "lean PublishStream failed", { error: String(error) }))
      .finally(() => context.abort());
    return true;
  };
}

/** Writes each ack as a Connect envelope (waiting while the stream's buffer is full), then the end-of-stream message. */
async function writeAcks(stream: http2.ServerHttp2Stream, acks: AsyncIterable<PublishStreamResponse>): Promise<void> {
  let error: ConnectError | undefined;
  try {
    for await (const ack of acks) {
      if (stream.destroyed || stream.closed) return;
      if (!stream.write(connectEnvelope(0, ackEncoder.encode(ack)))) await drained(stream);
    }
  } catch (caught) {
    error = ConnectError.from(caught, Code.Internal);
  }
  if (stream.destroyed || stream.closed) return;
  stream.end(connectEnvelope(endStreamFlag, endStreamBytes(error)));
}

/** Connect's end-of-stream message: JSON with the error, if any. */
function endStreamBytes(error: ConnectError | undefined): Uint8Array {
  return Buffer.from(JSON.stringify(endStreamToJson(new Headers(), error, {})));
}

/**
 * The request side: Connect envelopes from the stream's data, each decoded
 * into a batch as soon as it is whole, handed to the handler in order. At most
 * `maxQueuedBatches` wait; beyond that the stream stops reading and HTTP/2
 * flow control holds the collector back. A malformed envelope or batch ends
 * the requests with connect-node's error for it; nothing after it is read.
 */
class BatchReader implements AsyncIterable<PublishStreamRequest> {
  private readonly decoder = new PublishedEnvelopeDecoder();
  private readonly ready: PublishStreamRequest[] = [];
  private readonly envelopes: EnvelopeSplitter;
  private ended = false;
  private failure: ConnectError | undefined;
  private wake: (() => void) | undefined;

  constructor(
    private readonly stream: http2.ServerHttp2Stream,
    readMaxBytes: number,
  ) {
    this.envelopes = new EnvelopeSplitter(readMaxBytes);
    stream.on("data", (chunk: Buffer) => this.take(chunk));
    stream.on("end", () => {
      if (this.envelopes.buffered > 0) this.fail(new ConnectError("protocol error: incomplete envelope", Code.InvalidArgument));
      this.ended = true;
      this.notify();
    });
  }

  fail(error: ConnectError): void {
    this.failure ??= error;
    this.stream.pause();
    this.notify();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<PublishStreamRequest> {
    for (;;) {
      const batch = this.ready.shift();
      if (batch !== undefined) {
        if (this.ready.length < maxQueuedBatches && this.failure === undefined && this.stream.isPaused()) this.stream.resume();
        yield batch;
        continue;
      }
      if (this.failure !== undefined) throw this.failure;
      if (this.ended) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private take(chunk: Buffer): void {
    if (this.failure !== undefined) return;
    this.envelopes.push(chunk);
    for (;;) {
      let envelope: ConnectEnvelope | undefined;
      try {
        envelope = this.envelopes.next();
      } catch (error) {
        this.fail(new ConnectError((error as Error).message, Code.ResourceExhausted));
        return;
      }
      if (envelope === undefined) break;
      if (!this.accept(envelope.flags, envelope.data)) {
        this.notify();
        return;
      }
    }
    if (this.ready.length >= maxQueuedBatches) this.stream.pause();
    this.notify();
  }

  private accept(flags: number, body: Buffer): boolean {
    if ((flags & compressedFlag) !== 0) {
      this.fail(new ConnectError("received compressed envelope, but do not know how to decompress", Code.Internal));
      return false;
    }
    // connect-node skips an end-of-stream envelope from a client and reads on: so does this path.
    if ((flags & endStreamFlag) !== 0) return true;
    try {
      this.ready.push({ $typeName: "corrbus.v1.PublishStreamRequest", envelopes: this.decoder.decodeBatch(body) });
      return true;
    } catch (error) {
      this.fail(new ConnectError(`parse binary: ${(error as Error).message}`, Code.Internal));
      return false;
    }
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
