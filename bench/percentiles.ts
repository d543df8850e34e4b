/** A latency series reduced to the figures the bench reports (same unit as the samples). */
export interface LatencySummary {
  count: number;
  p50: number;
  p99: number;
  mean: number;
  min: number;
  max: number;
}

/**
 * The nearest-rank percentile of `sorted` (ascending): the smallest sample with
 * at least `fraction` of the samples at or below it. No interpolation, so every
 * reported figure is a latency that was actually observed.
 */
export function percentile(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil(fraction * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))];
}

/** p50, p99, mean, min and max of `samples` (any order). */
export function summarize(samples: readonly number[]): LatencySummary {
  const sorted = [...samples].sort((a, b) => a - b);
  let sum = 0;
  for (const sample of sorted) sum += sample;
  return {
    count: sorted.length,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    mean: sorted.length === 0 ? Number.NaN : sum / sorted.length,
    min: sorted.length === 0 ? Number.NaN : sorted[0],
    max: sorted.length === 0 ? Number.NaN : sorted[sorted.length - 1],
  };
}

/** The median of `values` (any order); NaN when empty. */
export function median(values: readonly number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    0.5,
  );
}
