/** Monotonic time in ms (fractional): for durations measured inside one process. */
export function nowMs(): number {
  return performance.now();
}

/**
 * Wall-clock time in ms with sub-ms resolution: comparable across processes on
 * one host, so the start of one worker and the end of another can be combined.
 */
export function wallClockMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Awaits `call` `count` times, one after the other; answers each call's duration in µs. */
export async function timeSequential(count: number, call: (index: number) => Promise<unknown>): Promise<number[]> {
  const samples = new Array<number>(count);
  for (let index = 0; index < count; index++) {
    const start = performance.now();
    await call(index);
    samples[index] = (performance.now() - start) * 1000;
  }
  return samples;
}

/** Runs `call` `count` times with `concurrency` calls in flight; answers the elapsed time in ms. */
export async function timeInFlight(count: number, concurrency: number, call: (index: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const lane = async () => {
    while (next < count) await call(next++);
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
  return performance.now() - start;
}
