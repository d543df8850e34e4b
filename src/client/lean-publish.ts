import type * as http2 from "node:http2";
import { type MessageInitShape, create, fromBinary, isMessage } from "@bufbuild/protobuf";
import { type CallOptions, Code, ConnectError } from "@connectrpc/connect";
import { codeFromHttpStatus, errorFromJsonBytes } from "@connectrpc/connect/protocol-connect";
import type { Http2SessionManager } from "@connectrpc/connect-node";
import { encodePublishRequest } from "./request-encoding.js";
import {
  PublishRequestSchema,
  type PublishResponse,
  PublishResponseSchema,
} from "../../gen/corrbus/v1/service_pb.js";
import { brokerUnreachableError } from "./broker-unreachable.js";

type Publish = (request: MessageInitShape<typeof PublishRequestSchema>, options?: CallOptions) => Promise<PublishResponse>;

const publishPath = "/corrbus.v1.CorrelationService/Publish";

/**
 * Publish over the Connect protocol (binary) straight on the HTTP/2 session.
 * The stock client builds several AbortSignals, a DOMException and a
 * ConnectError per call (~0.4 ms of CPU, shared/BASELINE.md); this writes the
 * request and reads the answer, with Connect's error format and codes. Calls
 * that want response headers or trailers, or custom headers, take `fallback`
 * (the stock client), which behaves the same on the wire.
 */
export function createLeanPublish(sessionManager: Http2SessionManager, socketPath: string, fallback: Publish): Publish {
  return async (request, options = {}) => {
    if (options.onHeader || options.onTrailer || options.contextValues || options.headers) return fallback(request, options);
    options.signal?.throwIfAborted();
    const message = isMessage(request, PublishRequestSchema) ? request : create(PublishRequestSchema, request);
    const body = encodePublishRequest(message);
    const headers: http2.OutgoingHttpHeaders = { "content-type": "application/proto", "connect-protocol-version": "1" };
    if (options.timeoutMs !== undefined && options.timeoutMs > 0) headers["connect-timeout-ms"] = String(options.timeoutMs);
    let stream: http2.ClientHttp2Stream;
    try {
      stream = await sessionManager.request("POST", publishPath, headers, {});
    } catch (error) {
      throw brokerUnreachableError(error, socketPath);
    }
    return exchange(sessionManager, stream, body, options);
  };
}

function exchange(sessionManager: Http2SessionManager, stream: http2.ClientHttp2Stream, body: Uint8Array, options: CallOptions): Promise<PublishResponse> {
  return new Promise((resolve, reject) => {
    let status = 0;
    let contentType = "";
    const chunks: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    const fail = (error: ConnectError) => {
      cleanUp();
      stream.close();
      reject(error);
    };
    const onAbort = () => fail(ConnectError.from(options.signal?.reason, Code.Canceled));
    const cleanUp = () => {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
    };
    options.signal?.addEventListener("abort", onAbort, { once: true });
    if (options.timeoutMs !== undefined && options.timeoutMs > 0) {
      timer = setTimeout(() => fail(new ConnectError("the operation timed out", Code.DeadlineExceeded)), options.timeoutMs);
    }
    stream.on("response", (responseHeaders) => {
      status = Number(responseHeaders[":status"]);
      contentType = String(responseHeaders["content-type"] ?? "");
    });
    stream.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      sessionManager.notifyResponseByteRead(stream);
    });
    stream.on("error", (error) => fail(ConnectError.from(error, Code.Unavailable)));
    stream.on("end", () => {
      cleanUp();
      const bytes = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
      if (status === 200 && contentType === "application/proto") {
        try {
          resolve(fromBinary(PublishResponseSchema, bytes));
        } catch (error) {
          reject(ConnectError.from(error, Code.Internal));
        }
        return;
      }
      const fallbackError = new ConnectError(`HTTP ${status}`, codeFromHttpStatus(status));
      reject(contentType.startsWith("application/json") ? errorFromJsonBytes(bytes, undefined, fallbackError) : fallbackError);
    });
    stream.end(body);
  });
}
