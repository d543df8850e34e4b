import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";

/** Socket errors that mean "no broker is listening there". */
const unreachable = new Set(["ENOENT", "ECONNREFUSED"]);

/**
 * Turns "no broker on that socket" into UNAVAILABLE, naming the socket: the
 * stock transport reports a missing socket file (ENOENT) as INTERNAL, yet it
 * is the most ordinary, retryable condition there is (the broker is not
 * started yet, or restarting). Anything else passes unchanged.
 */
export function brokerUnreachableError(error: unknown, socketPath: string): ConnectError {
  const connectError = ConnectError.from(error, Code.Unavailable);
  const cause = connectError.cause as NodeJS.ErrnoException | undefined;
  if (cause?.code === undefined || !unreachable.has(cause.code)) return connectError;
  return new ConnectError(`no broker listening on ${socketPath} (${cause.code})`, Code.Unavailable, undefined, undefined, cause);
}

/** The same mapping for every call of a Connect client. */
export function brokerUnreachableInterceptor(socketPath: string): Interceptor {
  return (next) => async (request) => {
    try {
      return await next(request);
    } catch (error) {
      throw brokerUnreachableError(error, socketPath);
    }
  };
}
