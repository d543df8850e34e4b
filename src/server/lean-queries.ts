import type * as http2 from "node:http2";
import { type DescMethodUnary, create, fromBinary, isMessage, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl, createContextValues, createHandlerContext } from "@connectrpc/connect";
import { parseTimeout } from "@connectrpc/connect/protocol-connect";
import { CorrelationService } from "../../gen/corrbus/v1/service_pb.js";
import type { PeerIdentity } from "../core/correlation-broker.js";
import { peerIdentityKey } from "./peer-identity.js";
import { answer, answerError, isLeanUnary, readBody } from "./raw-unary.js";
import { toConnectError } from "./service-errors.js";

/**
 * The unary calls served on the lean path. The queries answer at once and
 * take it only without a deadline; WaitForResults waits, so it takes a
 * deadline (connect-timeout-ms), and the client leaving or the broker
 * shutting down ends the wait, as through connect-node.
 */
const leanMethods = { findByTag: false, getTimeline: false, getWorkflow: false, getStats: false, waitForResults: true } as const;

/** How the lean unary path is set up: the adapter's own limits and shutdown signal. */
export interface LeanQueryOptions {
  readMaxBytes: number;
  maxTimeoutMs: number;
  shutdownSignal: AbortSignal;
  identify: (stream: http2.ServerHttp2Stream) => PeerIdentity;
}

/**
 * The queries' lean path: the same handlers as connect-node calls (the
 * service implementation), on the raw HTTP/2 stream, for Connect binary
 * calls. connect-node's per-call machinery (~0.5 ms of CPU, shared/
 * BASELINE.md) was most of a FindByTag's end-to-end time (bench: 1.2-1.8 ms
 * end-to-end against 57-72 µs in the broker) and of a WaitForResults answer's
 * delay after the completing event. JSON, gRPC and compression go to the
 * adapter.
 *
 * Answers false when the stream is not such a call.
 */
export function createLeanQueries(
  service: ServiceImpl<typeof CorrelationService>,
  options: LeanQueryOptions,
): (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => boolean {
  const routes = new Map<string, { method: DescMethodUnary; impl: (request: unknown, context: ReturnType<typeof createHandlerContext>) => unknown; waits: boolean }>();
  for (const [name, waits] of Object.entries(leanMethods) as [keyof typeof leanMethods, boolean][]) {
    const method = CorrelationService.method[name] as DescMethodUnary;
    routes.set(`/${CorrelationService.typeName}/${method.name}`, { method, impl: service[name] as never, waits });
  }
  return (stream, headers) => {
    const path = headers[":path"];
    const route = path === undefined ? undefined : routes.get(path);
    if (route === undefined || !isLeanUnary(headers, path as string)) return false;
    const deadline = headers["connect-timeout-ms"];
    if (deadline !== undefined && !route.waits) return false;
    const { timeoutMs, error } = parseTimeout(typeof deadline === "string" ? deadline : null, options.maxTimeoutMs);
    // Read now: once the stream is reset it has no session to ask.
    const peer = options.identify(stream);
    readBody(stream, options.readMaxBytes, (body) => {
      if (error !== undefined) {
        answerError(stream, error);
        return;
      }
      let request;
      try {
        request = fromBinary(route.method.input, body);
      } catch (decodeError) {
        answerError(stream, new ConnectError(`cannot decode ${route.method.input.typeName}: ${(decodeError as Error).message}`, Code.InvalidArgument));
        return;
      }
      // The client resetting or closing the stream before the answer ends the call.
      const gone = new AbortController();
      stream.once("close", () => gone.abort(new ConnectError("the client closed the call", Code.Canceled)));
      const context = createHandlerContext({
        service: CorrelationService,
        method: route.method,
        protocolName: "connect",
        requestMethod: "POST",
        url: `http://localhost${path}`,
        timeoutMs,
        requestSignal: gone.signal,
        shutdownSignal: options.shutdownSignal,
        requestHeader: { "content-type": "application/proto" },
        contextValues: createContextValues().set(peerIdentityKey, peer),
      });
      Promise.resolve()
        .then(() => route.impl(request, context))
        .then((result) => answer(stream, toBinary(route.method.output, isMessage(result, route.method.output) ? result : create(route.method.output, result as never))))
        .catch((failure: unknown) => answerError(stream, toConnectError(failure)))
        .finally(() => context.abort());
    });
    return true;
  };
}
