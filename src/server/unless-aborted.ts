import { Code, ConnectError } from "@connectrpc/connect";

/**
 * `promise`, or a Canceled error as soon as `signal` aborts, whichever comes
 * first. Its abort listener goes when `promise` settles: a race against one
 * promise that never settles (Promise.race with the stream's "stopped")
 * kept a reaction per call on it, and each reaction its call's result, so a
 * long PublishStream kept every batch it ever read, decoded. `promise` is
 * always observed, also when the signal has aborted already: its later
 * rejection (a request the adapter refuses while it is read) would otherwise
 * be unhandled, and an unhandled rejection ends the broker.
 */
export function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(ConnectError.from(signal.reason, Code.Canceled));
  }
  return new Promise<T>((resolve, reject) => {
    const stop = () => reject(ConnectError.from(signal.reason, Code.Canceled));
    signal.addEventListener("abort", stop, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", stop);
        resolve(value);
      },
      (error) => {
        signal.removeEventListener("abort", stop);
        reject(error);
      },
    );
  });
}
