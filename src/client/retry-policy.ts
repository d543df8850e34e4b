import { Code, type ConnectError } from "@connectrpc/connect";

/**
 * Codes that say the request itself is wrong or not allowed: sending it again
 * cannot succeed. Everything else (UNAVAILABLE above all: no broker on the
 * socket, connection lost, broker shutting down; RESOURCE_EXHAUSTED for a
 * subscriber cut off for lagging; INTERNAL and UNKNOWN for a transport that
 * broke midway) is worth another attempt once the broker is back.
 */
const permanent = new Set([
  Code.InvalidArgument,
  Code.PermissionDenied,
  Code.Unauthenticated,
  Code.Unimplemented,
  Code.FailedPrecondition,
  Code.OutOfRange,
  Code.NotFound,
  Code.AlreadyExists,
]);

/** Whether an attempt that failed with `error` (not by the caller's own abort) may succeed when made again. */
export function isRetryable(error: ConnectError): boolean {
  return !permanent.has(error.code);
}

/** How a client retries: capped exponential backoff, a bounded number of attempts in a row. */
export interface RetryOptions {
  /** First wait before trying again; doubles up to `maxDelayMs`. Default 100 ms. */
  firstDelayMs?: number;
  /** Longest wait between attempts. Default 5 s. */
  maxDelayMs?: number;
  /**
   * Failed attempts in a row before giving up with the last error. Default
   * unbounded: a collector outlives any broker restart, however long its
   * journal replay takes (the wait between attempts is capped instead).
   */
  maxAttempts?: number;
}

/**
 * The waits of one retry loop: 100, 200, 400 … ms, capped, and the attempt
 * count. `reset()` after a success starts the doubling over. `wait` is the
 * sleep (injectable: tests run it on a fake clock).
 */
export class Backoff {
  private failures = 0;
  private readonly firstDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly maxAttempts: number;

  constructor(
    options: RetryOptions = {},
    private readonly wait: (ms: number, signal?: AbortSignal) => Promise<void> = sleep,
  ) {
    this.firstDelayMs = positive("firstDelayMs", options.firstDelayMs ?? 100);
    this.maxDelayMs = Math.max(this.firstDelayMs, positive("maxDelayMs", options.maxDelayMs ?? 5000));
    this.maxAttempts = positive("maxAttempts", options.maxAttempts ?? Number.POSITIVE_INFINITY);
  }

  /** Failed attempts since the last success. */
  get attempts(): number {
    return this.failures;
  }

  /** The wait before the next attempt, or undefined when the attempts are used up. Counts the failure. */
  nextDelayMs(): number | undefined {
    if (this.failures >= this.maxAttempts) return undefined;
    const delay = Math.min(this.firstDelayMs * 2 ** Math.min(this.failures, 30), this.maxDelayMs);
    this.failures++;
    return delay;
  }

  /**
   * Counts a failure and waits before the next attempt; false when the
   * attempts are used up (or `signal` aborted), so the caller gives up.
   */
  async retry(signal?: AbortSignal): Promise<boolean> {
    const delay = this.nextDelayMs();
    if (delay === undefined || signal?.aborted) return false;
    await this.wait(delay, signal);
    return signal?.aborted !== true;
  }

  /** After a success: the next failure waits the first delay again. */
  reset(): void {
    this.failures = 0;
  }
}

function positive(name: string, value: number): number {
  if (!(value > 0)) throw new RangeError(`${name}: ${value} is not a positive number of ms / attempts`);
  return value;
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
  });
}
