import type * as http2 from "node:http2";
import type { CallOptions } from "@connectrpc/connect";
import type { Http2SessionManager } from "@connectrpc/connect-node";
import { brokerUnreachableError } from "./broker-unreachable.js";

/**
 * Opens the HTTP/2 stream of one Connect-protocol call for the lean client
 * paths: the content type, the protocol version and the caller's deadline as
 * headers; a missing broker becomes UNAVAILABLE naming the socket.
 */
export async function openLeanStream(
  sessionManager: Http2SessionManager,
  socketPath: string,
  path: string,
  contentType: "application/proto" | "application/connect+proto",
  options: CallOptions,
): Promise<http2.ClientHttp2Stream> {
  options.signal?.throwIfAborted();
  const headers: http2.OutgoingHttpHeaders = { "content-type": contentType, "connect-protocol-version": "1" };
  if (options.timeoutMs !== undefined && options.timeoutMs > 0) headers["connect-timeout-ms"] = String(options.timeoutMs);
  try {
    return await sessionManager.request("POST", path, headers, {});
  } catch (error) {
    throw brokerUnreachableError(error, socketPath);
  }
}
