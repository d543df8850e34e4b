import type * as http from "node:http";
import type * as http2 from "node:http2";
import type { Logger } from "./logger.js";

type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;
type NodeResponse = http.ServerResponse | http2.Http2ServerResponse;

/** The media types the Connect adapter serves a POST with: Connect (unary, streaming), gRPC and gRPC-Web, JSON or binary. */
const servedContentType = /^application\/(json|proto|connect\+(json|proto)|grpc(-web)?(\+(proto|json))?)\s*(;|$)/i;

/** What to send, on the 415 the adapter would answer with an empty body (curl -d without -H sends a form type). */
const contentTypeHelp =
  "Content-Type: application/json for Connect JSON unary calls (application/proto for binary), " +
  "application/connect+json or application/connect+proto for streaming calls, application/grpc for gRPC over HTTP/2; " +
  "e.g. curl --unix-socket SOCKET -H 'Content-Type: application/json' -d '{}' http://localhost/corrbus.v1.CorrelationService/GetStats\n";

function refuseContentType(request: NodeRequest, response: NodeResponse): void {
  const given = request.headers["content-type"];
  const body = `corrbus: ${given === undefined ? "no Content-Type" : `Content-Type "${given}" is not served`}; send ${contentTypeHelp}`;
  // The request body is not read: drain it so the connection can carry the next request.
  request.resume();
  response.writeHead(415, {
    "content-type": "text/plain; charset=utf-8",
    "accept-post": "application/json, application/proto, application/connect+json, application/connect+proto, application/grpc",
  });
  response.end(body);
}

/**
 * Wraps the Connect handler so that no request can take the broker down.
 * The authority is meaningless on a local socket, yet gRPC's C core (Python,
 * C++, Ruby, PHP clients) sends the percent-encoded socket path there, which
 * the adapter feeds to `new URL` and which threw outside any catch: every
 * request is given the authority "localhost". Anything else thrown
 * synchronously is logged and answered with 500.
 */
export function guardRequests(
  handler: (request: NodeRequest, response: NodeResponse) => void,
  logger: Logger,
): (request: NodeRequest, response: NodeResponse) => void {
  return (request, response) => {
    if ("authority" in request) Object.defineProperty(request, "authority", { value: "localhost" });
    request.headers.host = "localhost";
    if (request.method === "POST" && !servedContentType.test(request.headers["content-type"] ?? "")) {
      refuseContentType(request, response);
      return;
    }
    try {
      handler(request, response);
    } catch (error) {
      logger.log("warn", "request failed before it reached a handler", { path: request.url, error: String(error) });
      if (!response.headersSent) {
        response.writeHead(500);
        response.end();
      }
    }
  };
}
