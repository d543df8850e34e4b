import type { LatencySummary } from "./percentiles.js";

/** One measured (or derived) number of a run, with its unit. */
export interface Figure {
  /** Stable key, e.g. "publish.sequential.metadata.p50". */
  id: string;
  value: number;
  unit: string;
  /** What it is, in words. */
  label: string;
}

/**
 * FigureSet collects every figure of one run. Ratios are derived here from
 * figures of the same set only, so no ratio ever mixes runs or constants.
 */
export class FigureSet {
  private readonly figures = new Map<string, Figure>();
  /** Phases that failed, with their error. */
  readonly failures: { phase: string; error: string }[] = [];
  /** Remarks worth reading beside the table (cut-offs, short result pages...). */
  readonly notes: string[] = [];

  /** Records `value` under `id`. */
  set(id: string, value: number, unit: string, label: string): void {
    this.figures.set(id, { id, value, unit, label });
  }

  /** Records p50, p99 and mean (µs) of a latency series, and the calls per second when given. */
  setLatency(id: string, summary: LatencySummary, label: string, callsPerSecond?: number): void {
    this.set(`${id}.p50`, summary.p50, "µs", `${label}, p50`);
    this.set(`${id}.p99`, summary.p99, "µs", `${label}, p99`);
    this.set(`${id}.mean`, summary.mean, "µs", `${label}, mean`);
    this.set(`${id}.count`, summary.count, "calls", `${label}, measured calls`);
    if (callsPerSecond !== undefined) this.set(`${id}.rate`, callsPerSecond, "calls/s", `${label}, calls per second`);
  }

  /** The value of `id`, or undefined when that figure was not measured (its phase failed). */
  value(id: string): number | undefined {
    return this.figures.get(id)?.value;
  }

  /** `numerator / denominator` when both were measured. */
  ratio(numerator: string, denominator: string): number | undefined {
    const top = this.value(numerator);
    const bottom = this.value(denominator);
    if (top === undefined || bottom === undefined || bottom === 0) return undefined;
    return top / bottom;
  }

  /** Every figure, in the order recorded. */
  all(): Figure[] {
    return [...this.figures.values()];
  }
}
