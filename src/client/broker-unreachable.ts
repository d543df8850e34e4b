import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { connectionLostError } from "./connection-lost.js";

/** Socket errors that mean "no broker is listening there". */
const unreachable = new Set(["ENOENT", "ECONNREFUSED"]);
/** Socket errors that mean "a broker may be there, but this user may not connect". */
const denied = new Set(["EACCES", "EPERM"]);

/**
 * Turns a failed connect into the code that says what to do about it, naming
 * the socket: no broker there (ENOENT, ECONNREFUSED) is UNAVAILABLE — the most
 * ordinary, retryable condition there is (not started yet, or restarting) —
 * and a socket this user may not open (EACCES) is PERMISSION_DENIED with the
 * remedy. The stock transport reports both as INTERNAL. Anything else passes
 * unchanged.
 */
export function brokerUnreachableError(error: unknown, socketPath: string): ConnectError {
  const connectError = ConnectError.from(error, Code.Unavailable);
  const code = socketErrorCode(connectError);
  if (code !== undefined && unreachable.has(code)) {
    return new ConnectError(
      `no broker listening on ${socketPath} (${code}): start \`corrbus serve\` or set CORRBUS_SOCKET`,
      Code.Unavailable,
      undefined,
      undefined,
      connectError.cause,
    );
  }
  if (code !== undefined && denied.has(code)) {
    return new ConnectError(
      `no permission to connect to ${socketPath} (${code}): the socket is the broker's user's only, unless it runs with \`corrbus serve --socket-group GROUP\` and this user is in GROUP`,
      Code.PermissionDenied,
      undefined,
      undefined,
      connectError.cause,
    );
  }
  return connectError;
}

/**
 * The same mapping for every call of a Connect client, and for a call (or a
 * stream, midway) that loses its connection: UNAVAILABLE (connection-lost.ts),
 * unless the caller's own signal ended it.
 */
export function brokerUnreachableInterceptor(socketPath: string): Interceptor {
  const mapped = (error: unknown, signal: AbortSignal) => connectionLostError(brokerUnreachableError(error, socketPath), socketPath, signal.aborted);
  return (next) => async (request) => {
    let response: Awaited<ReturnType<typeof next>>;
    try {
      response = await next(request);
    } catch (error) {
      throw mapped(error, request.signal);
    }
    if (!response.stream) return response;
    const messages = response.message;
    return {
      ...response,
      message: (async function* () {
        try {
          yield* messages;
        } catch (error) {
          throw mapped(error, request.signal);
        }
      })(),
    };
  };
}

/** The errno-style code of the socket error under a transport error, if there is one. */
function socketErrorCode(error: ConnectError): string | undefined {
  for (let cause: unknown = error.cause, depth = 0; cause instanceof Error && depth < 8; cause = cause.cause, depth++) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (typeof code === "string" && code.startsWith("E") && !code.startsWith("ERR_")) return code;
  }
  return undefined;
}
