import type * as http from "node:http";
import type * as http2 from "node:http2";
import type { Logger } from "./logger.js";

type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;
type NodeResponse = http.ServerResponse | http2.Http2ServerResponse;

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
