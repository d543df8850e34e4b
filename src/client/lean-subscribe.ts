import * as http2 from "node:http2";
import { type MessageInitShape, create, isMessage, toBinary } from "@bufbuild/protobuf";
import { type CallOptions, Code, ConnectError } from "@connectrpc/connect";
import type { Http2SessionManager } from "@connectrpc/connect-node";
import { SubscribeRequestSchema, type SubscribeResponse, SubscribeResponseSchema } from "../../gen/corrbus/v1/service_pb.js";
import { connectEnvelope, endStreamFlag } from "../wire/connect-envelope.js";
import { endStreamFromJson } from "../wire/connect-internals.js";
import { messageDecoder } from "../wire/message-decoder.js";
import { EnvelopeReader } from "./envelope-reader.js";
import { openLeanStream } from "./lean-stream.js";

type Subscribe = (request: MessageInitShape<typeof SubscribeRequestSchema>, options?: CallOptions) => AsyncIterable<SubscribeResponse>;

const subscribePath = "/corrbus.v1.CorrelationService/Subscribe";
/**
 * Received answers waiting to be read: one of the broker's largest (1 MiB, a
 * lagging subscriber's backlog) and a little more, so one is decoded while
 * the next arrives.
 */
const maxQueuedBytes = 2 * 1024 * 1024;
const responseDecoder = messageDecoder(SubscribeResponseSchema);

/**
 * Subscribe over the Connect protocol (binary) straight on the HTTP/2 stream:
 * each answer decoded by the compiled decoder (fromBinary's messages). The
 * stock client decoded every event with fromBinary and passed each answer
 * through several async-iterable layers; in a profile of a replaying
 * subscriber, that decode was most of its busy time. Calls that want response
 * headers or trailers, or send headers or context values, take `fallback` (the
 * stock client), the same on the wire. Errors keep Connect's codes: the
 * broker's in the end-of-stream message, UNAVAILABLE for a missing broker or a
 * lost connection, CANCELED and DEADLINE_EXCEEDED for the caller's signal and
 * timeout.
 */
export function createLeanSubscribe(sessionManager: Http2SessionManager, socketPath: string, fallback: Subscribe): Subscribe {
  return (request, options = {}) => {
    if (options.onHeader || options.onTrailer || options.contextValues || options.headers) return fallback(request, options);
    return subscribe(sessionManager, socketPath, request, options);
  };
}

async function* subscribe(
  sessionManager: Http2SessionManager,
  socketPath: string,
  request: MessageInitShape<typeof SubscribeRequestSchema>,
  options: CallOptions,
): AsyncGenerator<SubscribeResponse> {
  const message = isMessage(request, SubscribeRequestSchema) ? request : create(SubscribeRequestSchema, request);
  const body = toBinary(SubscribeRequestSchema, message);
  const stream = await openLeanStream(sessionManager, socketPath, subscribePath, "application/connect+proto", options);
  const answers = new EnvelopeReader(stream, sessionManager, socketPath, maxQueuedBytes);
  const onAbort = () => answers.fail(ConnectError.from(options.signal?.reason, Code.Canceled));
  options.signal?.addEventListener("abort", onAbort, { once: true });
  if (options.signal?.aborted) onAbort();
  const timer =
    options.timeoutMs !== undefined && options.timeoutMs > 0
      ? setTimeout(() => answers.fail(new ConnectError("the operation timed out", Code.DeadlineExceeded)), options.timeoutMs)
      : undefined;
  stream.end(connectEnvelope(0, body));
  try {
    for (;;) {
      const frame = await answers.next();
      if ((frame.flags & endStreamFlag) !== 0) {
        const end = endStreamFromJson(frame.data);
        if (end.error !== undefined) throw end.error;
        return;
      }
      let response: SubscribeResponse;
      try {
        response = responseDecoder.decode(frame.data);
      } catch (error) {
        throw ConnectError.from(error, Code.Internal);
      }
      yield response;
    }
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", onAbort);
    if (!stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
  }
}
