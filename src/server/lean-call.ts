import type * as http2 from "node:http2";
import type { DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, createContextValues, createHandlerContext } from "@connectrpc/connect";
import { CorrelationService } from "../../gen/corrbus/v1/service_pb.js";
import type { PeerIdentity } from "../core/broker-ports.js";
import { parseTimeout } from "../wire/connect-internals.js";
import { peerIdentityKey } from "./peer-identity.js";

/** What every lean handler needs from the broker's set-up: the adapter's own limits and shutdown signal. */
export interface LeanCallOptions {
  readMaxBytes: number;
  maxTimeoutMs: number;
  shutdownSignal: AbortSignal;
  identify: (stream: http2.ServerHttp2Stream) => PeerIdentity;
}

/**
 * The one policy of the lean paths, as connect-node has it: a Connect call
 * (protocol version 1 or unstated) with binary protobuf and no compression;
 * the deadline from connect-timeout-ms, bounded by maxTimeoutMs (a malformed
 * or too long one is refused with connect-node's error); the call ends when
 * the deadline passes, the client goes or the broker shuts down; the peer's
 * kernel identity in the context. Anything else goes to connect-node.
 */
export function isLeanCall(headers: http2.IncomingHttpHeaders, contentType: string, encodingHeader: string): boolean {
  if (headers[":method"] !== "POST" || headers["content-type"] !== contentType) return false;
  const encoding = headers[encodingHeader];
  if (encoding !== undefined && encoding !== "identity") return false;
  const version = headers["connect-protocol-version"];
  return version === undefined || version === "1";
}

/** A lean call's handler context, or the error its deadline header earns. */
export function leanCallContext(
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
  method: DescMethod,
  contentType: string,
  options: LeanCallOptions,
): { context: HandlerContext & { abort(reason?: unknown): void }; error?: undefined } | { context?: undefined; error: ConnectError } {
  const deadline = headers["connect-timeout-ms"];
  const { timeoutMs, error } = parseTimeout(typeof deadline === "string" ? deadline : null, options.maxTimeoutMs);
  if (error !== undefined) return { error };
  // Read now: once the stream is reset it has no session to ask.
  const peer = options.identify(stream);
  const gone = new AbortController();
  stream.once("close", () => gone.abort(new ConnectError("the client closed the call", Code.Canceled)));
  const context = createHandlerContext({
    service: CorrelationService,
    method,
    protocolName: "connect",
    requestMethod: "POST",
    url: `http://localhost/${CorrelationService.typeName}/${method.name}`,
    timeoutMs,
    requestSignal: gone.signal,
    shutdownSignal: options.shutdownSignal,
    requestHeader: { "content-type": contentType },
    contextValues: createContextValues().set(peerIdentityKey, peer),
  });
  return { context };
}
