import type * as http2 from "node:http2";
import { Code, ConnectError } from "@connectrpc/connect";
import type { CorrelationBroker, PeerIdentity, PublishResult } from "../core/correlation-broker.js";
import { varintSize, writeTimestampMs, timestampMsSize, writeVarint } from "../core/envelope-encoding.js";
import { InvalidInputError } from "../core/invalid-input-error.js";
import { PublishedEnvelopeDecoder } from "../core/published-envelope-decoder.js";
import { answer, answerError, isLeanUnary, readBody } from "./raw-unary.js";
import { toConnectError } from "./service-errors.js";

const publishPath = "/corrbus.v1.CorrelationService/Publish";

/**
 * A lean path for the hottest call: Publish over the Connect protocol with
 * binary protobuf and no compression, served on the raw HTTP/2 stream.
 * connect-node spends ~0.5 ms of CPU per unary call (several AbortSignals, a
 * DOMException and a ConnectError with stack traces on every call, URL
 * parses, header conversions, async-generator wrappers; see
 * shared/BASELINE.md), and Node's compatibility request/response objects cost
 * more again; this reads the body, calls the core and writes the answer, with
 * Connect's wire format for errors too. Every other request (gRPC, JSON,
 * compression, other RPCs) goes to the adapter.
 *
 * Answers false when the stream is not of that shape (nothing read yet).
 */
export function createLeanPublish(
  broker: CorrelationBroker,
  readMaxBytes: number,
  identify: (stream: http2.ServerHttp2Stream) => PeerIdentity,
): (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => boolean {
  // One per connection: a collector repeats its own metadata, and collectors publishing at once would take turns in one.
  const decoders = new WeakMap<http2.Http2Session, PublishedEnvelopeDecoder>();
  const sessionless = new PublishedEnvelopeDecoder();
  return (stream, headers) => {
    if (!isLeanUnary(headers, publishPath)) return false;
    // Read now: once the stream is reset it has no session to ask.
    const peer = identify(stream);
    const decoder = decoderOf(decoders, stream.session) ?? sessionless;
    readBody(stream, readMaxBytes, (body) => {
      try {
        let envelope;
        try {
          envelope = decoder.decode(body);
        } catch (error) {
          throw new ConnectError(`cannot decode PublishRequest: ${(error as Error).message}`, Code.InvalidArgument);
        }
        if (envelope === undefined) throw new InvalidInputError("envelope", "is required");
        broker.submit([envelope], peer, false).then(
          ([result]) => answer(stream, encodePublishResponse(result)),
          (error) => answerError(stream, toConnectError(error)),
        );
      } catch (error) {
        answerError(stream, toConnectError(error));
      }
    });
    return true;
  };
}

function decoderOf(decoders: WeakMap<http2.Http2Session, PublishedEnvelopeDecoder>, session: http2.Http2Session | undefined): PublishedEnvelopeDecoder | undefined {
  if (session === undefined) return undefined;
  let decoder = decoders.get(session);
  if (decoder === undefined) {
    decoder = new PublishedEnvelopeDecoder();
    decoders.set(session, decoder);
  }
  return decoder;
}

/** PublishResponse { event_id = 1, delivered_count = 2, received_at = 3 }, written by hand (tests compare it with toBinary). */
export function encodePublishResponse(result: PublishResult): Uint8Array {
  const timeSize = timestampMsSize(result.receivedAtMs);
  const size =
    (result.eventId === 0 ? 0 : 1 + varintSize(result.eventId)) +
    (result.deliveredCount === 0 ? 0 : 1 + varintSize(result.deliveredCount)) +
    1 + varintSize(timeSize) + timeSize;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  if (result.eventId !== 0) {
    out[at++] = 0x08;
    at = writeVarint(out, at, result.eventId);
  }
  if (result.deliveredCount !== 0) {
    out[at++] = 0x10;
    at = writeVarint(out, at, result.deliveredCount);
  }
  writeTimestampMs(out, at, 0x1a, result.receivedAtMs, timeSize);
  return out;
}
