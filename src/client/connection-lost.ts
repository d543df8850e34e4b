import { Code, ConnectError } from "@connectrpc/connect";

/**
 * Node errors (anywhere in the cause chain) that say the connection to the
 * broker went away under a call: the broker was killed or restarted (reset,
 * broken pipe, GOAWAY, a destroyed session), not that the request was wrong.
 */
const lostConnectionCodes = new Set([
  "ECONNRESET",
  "EPIPE",
  "ERR_HTTP2_GOAWAY_SESSION",
  "ERR_HTTP2_INVALID_SESSION",
  "ERR_HTTP2_SESSION_ERROR",
  "ERR_HTTP2_STREAM_CANCEL",
  "ERR_STREAM_PREMATURE_CLOSE",
]);

/**
 * What a call that lost its connection answers: UNAVAILABLE, the code of "the
 * broker is not there right now, try again", naming the socket.
 *
 * Without this, a broker killed mid-call (SIGKILL, a crash) surfaced as
 * CANCELED ("http/2 stream closed with error code CANCEL"), the code of a
 * caller who gave up, so nothing retried it. CANCELED stays CANCELED only when
 * the caller's own signal ended the call (`callerAborted`).
 *
 * A stream reset with ENHANCE_YOUR_CALM is the broker refusing a request over
 * its size limit (gRPC), and resetting every stream of that connection after
 * it: RESOURCE_EXHAUSTED, and BrokerSessionManager drops the connection so the
 * next call opens a fresh one.
 */
export function connectionLostError(error: ConnectError, socketPath: string, callerAborted: boolean): ConnectError {
  const chain = causeChain(error);
  if (chain.some((text) => text.includes("ENHANCE_YOUR_CALM"))) {
    return new ConnectError(
      `the broker on ${socketPath} reset the request (ENHANCE_YOUR_CALM): larger than the broker reads (its --max-payload + 16 MiB, 17 MiB by default)`,
      Code.ResourceExhausted,
      undefined,
      undefined,
      error,
    );
  }
  if (callerAborted || error.code === Code.Unavailable || error.code === Code.PermissionDenied) return error;
  const lost =
    error.code === Code.Canceled ||
    chain.some((text) => lostConnectionCodes.has(text) || text.includes("NGHTTP2_CANCEL") || text.includes("NGHTTP2_REFUSED_STREAM"));
  if (!lost) return error;
  return new ConnectError(
    `lost the connection to the broker on ${socketPath} (${error.rawMessage}); it may be restarting`,
    Code.Unavailable,
    undefined,
    undefined,
    error,
  );
}

/** The codes and messages of an error and its causes. */
function causeChain(error: ConnectError): string[] {
  const texts = [error.rawMessage];
  for (let cause: unknown = error.cause, depth = 0; cause instanceof Error && depth < 8; cause = cause.cause, depth++) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (typeof code === "string") texts.push(code);
    texts.push(cause.message);
  }
  return texts;
}
