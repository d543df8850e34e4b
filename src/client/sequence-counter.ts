import { RecencyMap } from "../wire/recency-map.js";

/**
 * SequenceCounter numbers this publisher's events per correlation: 1, 2, 3…
 * It remembers at most `capacity` correlations (the least recently used are
 * forgotten), so a long-lived collector does not grow without bound.
 */
export class SequenceCounter {
  private readonly last = new RecencyMap<string, bigint>();

  constructor(
    /** Correlations remembered. Default 10 000. */
    readonly capacity = 10_000,
  ) {}

  /** The next sequence number for `correlationId`. */
  next(correlationId: string): bigint {
    const value = (this.last.get(correlationId) ?? 0n) + 1n;
    this.last.set(correlationId, value);
    if (this.last.size > this.capacity) this.last.takeOldest();
    return value;
  }

  /** Correlations remembered now. */
  get size(): number {
    return this.last.size;
  }
}
