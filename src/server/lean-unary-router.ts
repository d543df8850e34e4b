import type * as http2 from "node:http2";
import { type DescMethodUnary, type DescMessage, create, fromBinary, isMessage } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { CorrelationService, type PublishRequest, PublishRequestSchema } from "../../gen/corrbus/v1/service_pb.js";
import { encodeInParts } from "../wire/encode-in-parts.js";
import { type MessageEncoder, messageEncoder } from "../wire/message-encoder.js";
import { PublishedEnvelopeDecoder } from "../wire/published-envelope-decoder.js";
import { type LeanCallOptions, isLeanCall, leanCallContext } from "./lean-call.js";
import { streamsStoredEventsKey, takeStreamedEvents } from "./event-fields.js";
import { answer, answerError, readBody } from "./raw-unary.js";
import { answerWithStreamedEvents } from "./streamed-answer.js";
import { toConnectError } from "./service-errors.js";

/** A unary method on the lean path: the service's handler, its request decoder and its answer's encoder. */
interface LeanRoute {
  method: DescMethodUnary;
  impl: (request: unknown, context: never) => unknown;
  decode: (body: Buffer, session: http2.Http2Session | undefined) => unknown;
  encoder: MessageEncoder<DescMessage>;
}

/**
 * Every unary call of CorrelationService over Connect binary, served on the
 * raw HTTP/2 stream: the body is read, decoded, handed to the service
 * implementation that connect-node calls too (one copy of each handler's
 * logic), and its answer encoded from the schema. connect-node's per-call
 * machinery (several AbortSignals, a DOMException and a ConnectError with
 * stack traces per call, URL parses, header conversions) was most of a
 * Publish's and a query's end-to-end time. The call's context follows
 * connect-node's policy (see leanCallContext); Publish's request is decoded
 * by a PublishedEnvelopeDecoder per connection, which recognises a
 * collector's repeated metadata by its bytes. gRPC, JSON and compression go
 * to connect-node.
 *
 * Answers false when the stream is not such a call (nothing read yet).
 */
export function createLeanUnaryRouter(
  service: ServiceImpl<typeof CorrelationService>,
  options: LeanCallOptions,
): (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => boolean {
  const routes = new Map<string, LeanRoute>();
  for (const method of CorrelationService.methods) {
    if (method.methodKind !== "unary") continue;
    const unary = method as DescMethodUnary;
    const decode = method === CorrelationService.method.publish ? publishDecoder() : (body: Buffer) => fromBinary(unary.input, body);
    const impl = service[method.localName as keyof typeof service] as LeanRoute["impl"];
    routes.set(`/${CorrelationService.typeName}/${method.name}`, { method: unary, impl, decode, encoder: messageEncoder(unary.output) });
  }
  return (stream, headers) => {
    const path = headers[":path"];
    const route = path === undefined ? undefined : routes.get(path);
    if (route === undefined || !isLeanCall(headers, "application/proto", "content-encoding")) return false;
    // A reset or broken stream has nobody to answer. Before anything that may throw.
    stream.on("error", () => {});
    const { context, error } = leanCallContext(stream, headers, route.method, "application/proto", options);
    context?.values.set(streamsStoredEventsKey, true);
    readBody(stream, options.readMaxBytes, (body) => {
      if (error !== undefined) {
        answerError(stream, error);
        return;
      }
      let request: unknown;
      try {
        request = route.decode(body, stream.session);
      } catch (decodeError) {
        context.abort();
        answerError(stream, new ConnectError(`cannot decode ${route.method.input.typeName}: ${(decodeError as Error).message}`, Code.InvalidArgument));
        return;
      }
      void serve(stream, route, request, context);
    });
    return true;
  };
}

/** Runs the handler and answers; the call ends either way. */
async function serve(stream: http2.ServerHttp2Stream, route: LeanRoute, request: unknown, context: { abort(): void }): Promise<void> {
  try {
    const result = await route.impl(request, context as never);
    const message = isMessage(result, route.method.output) ? result : create(route.method.output, result as never);
    const events = takeStreamedEvents(message);
    if (events === undefined) answer(stream, encodeInParts(route.encoder, message));
    else answerWithStreamedEvents(stream, events, encodeInParts(route.encoder, message));
  } catch (failure) {
    answerError(stream, toConnectError(failure));
  } finally {
    context.abort();
  }
}

/** Publish's decoder: one PublishedEnvelopeDecoder per connection (a collector repeats its own metadata; several would take turns in one). */
function publishDecoder(): (body: Buffer, session: http2.Http2Session | undefined) => PublishRequest {
  const decoders = new WeakMap<http2.Http2Session, PublishedEnvelopeDecoder>();
  const sessionless = new PublishedEnvelopeDecoder();
  return (body, session) => {
    let decoder = session === undefined ? sessionless : decoders.get(session);
    if (decoder === undefined) {
      decoder = new PublishedEnvelopeDecoder();
      decoders.set(session as http2.Http2Session, decoder);
    }
    // Built, not created: create() would copy the envelope, and with it lose the bytes it was received as.
    return { $typeName: PublishRequestSchema.typeName, envelope: decoder.decode(body) } as PublishRequest;
  };
}
