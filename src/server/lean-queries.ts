import type * as http2 from "node:http2";
import { type DescMethodUnary, create, fromBinary, isMessage, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl, createContextValues, createHandlerContext } from "@connectrpc/connect";
import { CorrelationService } from "../../gen/corrbus/v1/service_pb.js";
import type { PeerIdentity } from "../core/correlation-broker.js";
import { peerIdentityKey } from "./peer-identity.js";
import { answer, answerError, isLeanUnary, readBody } from "./raw-unary.js";
import { toConnectError } from "./service-errors.js";

/** The unary queries served on the lean path: they answer at once (WaitForResults waits, and keeps connect-node's deadlines and aborts). */
const leanMethods = ["findByTag", "getTimeline", "getWorkflow", "getStats"] as const;

/**
 * The queries' lean path: the same handlers as connect-node calls (the
 * service implementation), on the raw HTTP/2 stream, for Connect binary
 * calls without a deadline. connect-node's per-call machinery (~0.5 ms of
 * CPU, shared/BASELINE.md) was most of a FindByTag's end-to-end time (bench:
 * 1.2-1.8 ms end-to-end against 57-72 µs in the broker). Calls with a
 * deadline, JSON, gRPC or compression go to the adapter.
 *
 * Answers false when the stream is not such a call.
 */
export function createLeanQueries(
  service: ServiceImpl<typeof CorrelationService>,
  readMaxBytes: number,
  identify: (stream: http2.ServerHttp2Stream) => PeerIdentity,
): (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => boolean {
  const routes = new Map<string, (stream: http2.ServerHttp2Stream, body: Buffer, headers: http2.IncomingHttpHeaders) => void>();
  for (const name of leanMethods) {
    const method = CorrelationService.method[name] as DescMethodUnary;
    const impl = service[name] as (request: unknown, context: ReturnType<typeof createHandlerContext>) => unknown;
    routes.set(`/${CorrelationService.typeName}/${method.name}`, (stream, body, headers) => {
      let request;
      try {
        request = fromBinary(method.input, body);
      } catch (error) {
        answerError(stream, new ConnectError(`cannot decode ${method.input.typeName}: ${(error as Error).message}`, Code.InvalidArgument));
        return;
      }
      const context = createHandlerContext({
        service: CorrelationService,
        method,
        protocolName: "connect",
        requestMethod: "POST",
        url: `http://localhost${headers[":path"]}`,
        requestHeader: { "content-type": "application/proto" },
        contextValues: createContextValues().set(peerIdentityKey, identify(stream)),
      });
      Promise.resolve()
        .then(() => impl(request, context))
        .then(
          (result) => answer(stream, toBinary(method.output, isMessage(result, method.output) ? result : create(method.output, result as never))),
          (error) => answerError(stream, toConnectError(error)),
        )
        .finally(() => context.abort());
    });
  }
  return (stream, headers) => {
    const path = headers[":path"];
    const route = path === undefined ? undefined : routes.get(path);
    if (route === undefined || !isLeanUnary(headers, path as string) || headers["connect-timeout-ms"] !== undefined) return false;
    readBody(stream, readMaxBytes, (body) => route(stream, body, headers));
    return true;
  };
}
