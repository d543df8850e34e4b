import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { Backoff, isRetryable } from "../../src/client/retry-policy.js";

/** A wait that takes no time and records what it was asked to wait: the backoff's clock. */
function fakeClock(): { waits: number[]; wait: (ms: number) => Promise<void> } {
  const waits: number[] = [];
  return { waits, wait: async (ms) => void waits.push(ms) };
}

describe("Backoff", () => {
  it("should double the wait from the first delay up to the cap, counting the attempts", async () => {
    const clock = fakeClock();
    const backoff = new Backoff({ firstDelayMs: 100, maxDelayMs: 1000 }, clock.wait);
    for (let i = 0; i < 7; i++) expect(await backoff.retry()).toBe(true);
    expect(clock.waits).toEqual([100, 200, 400, 800, 1000, 1000, 1000]);
    expect(backoff.attempts).toBe(7);
  });

  it("should start over from the first delay after reset()", async () => {
    const clock = fakeClock();
    const backoff = new Backoff({ firstDelayMs: 50, maxDelayMs: 5000 }, clock.wait);
    await backoff.retry();
    await backoff.retry();
    backoff.reset();
    expect(backoff.attempts).toBe(0);
    await backoff.retry();
    expect(clock.waits).toEqual([50, 100, 50]);
  });

  it("should give up after maxAttempts failures in a row, without waiting", async () => {
    const clock = fakeClock();
    const backoff = new Backoff({ maxAttempts: 2 }, clock.wait);
    expect([await backoff.retry(), await backoff.retry(), await backoff.retry()]).toEqual([true, true, false]);
    expect(clock.waits).toEqual([100, 200]);
    expect(backoff.nextDelayMs()).toBeUndefined();
  });

  it("should stay at the cap however many attempts there were (no overflow to Infinity)", () => {
    const backoff = new Backoff({ firstDelayMs: 100, maxDelayMs: 5000 });
    let last = 0;
    for (let i = 0; i < 2000; i++) last = backoff.nextDelayMs() ?? -1;
    expect(last).toBe(5000);
    expect(backoff.attempts).toBe(2000);
  });

  it("should not wait or go on once the signal is aborted", async () => {
    const clock = fakeClock();
    const backoff = new Backoff({}, clock.wait);
    const aborted = AbortSignal.abort();
    expect(await backoff.retry(aborted)).toBe(false);
    expect(clock.waits).toEqual([]);
  });

  it("should refuse a non-positive delay or attempt count, naming it", () => {
    expect(() => new Backoff({ firstDelayMs: 0 })).toThrow(/firstDelayMs: 0/);
    expect(() => new Backoff({ maxAttempts: -1 })).toThrow(/maxAttempts: -1/);
  });
});

describe("isRetryable", () => {
  it("should retry losing the broker and being cut off, never a request that is wrong or not allowed", () => {
    const retried = [Code.Unavailable, Code.ResourceExhausted, Code.Internal, Code.Unknown, Code.Aborted, Code.DeadlineExceeded, Code.Canceled, Code.DataLoss];
    const notRetried = [
      Code.InvalidArgument,
      Code.PermissionDenied,
      Code.Unauthenticated,
      Code.Unimplemented,
      Code.FailedPrecondition,
      Code.OutOfRange,
      Code.NotFound,
      Code.AlreadyExists,
    ];
    expect(retried.filter((code) => !isRetryable(new ConnectError("x", code)))).toEqual([]);
    expect(notRetried.filter((code) => isRetryable(new ConnectError("x", code)))).toEqual([]);
  });
});
