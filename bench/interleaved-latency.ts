import { nowMs, timeSequential } from "./call-timing.js";

/** What one series of an interleaved measurement gathered. */
export interface SeriesResult {
  /** Each measured call's duration, µs. */
  samples: number[];
  /** Wall time of this series' blocks together, ms (for calls per second). */
  elapsedMs: number;
}

/**
 * Sequential latency of several kinds of call, measured in rotating blocks
 * (A B C … A B C …) after a warm-up of each, so that drift of a shared, noisy
 * machine touches every series alike and their ratios hold within the run.
 */
export async function timeInterleaved(
  series: Record<string, (index: number) => Promise<unknown>>,
  options: { warmup: number; callsPerSeries: number; blocks: number },
): Promise<Record<string, SeriesResult>> {
  const names = Object.keys(series);
  const results: Record<string, SeriesResult> = {};
  for (const name of names) {
    await timeSequential(options.warmup, series[name]);
    results[name] = { samples: [], elapsedMs: 0 };
  }
  const perBlock = Math.ceil(options.callsPerSeries / options.blocks);
  for (let block = 0; block < options.blocks; block++) {
    for (const name of names) {
      const start = nowMs();
      results[name].samples.push(...(await timeSequential(perBlock, series[name])));
      results[name].elapsedMs += nowMs() - start;
    }
  }
  return results;
}
