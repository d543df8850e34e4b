import type { Logger } from "./logger.js";

/**
 * Logs refusals an operator must see (a uid publishing to control.#) without
 * letting a peer that repeats them flood the log: at most one line per
 * `intervalMs`; the next line says how many were left out meanwhile
 * (`suppressed`). Every refusal is counted in GetStats either way.
 */
export class RefusalLog {
  private lastLoggedMs = Number.NEGATIVE_INFINITY;
  private suppressed = 0;

  constructor(
    private readonly logger: Logger,
    private readonly message: string,
    private readonly intervalMs = 1000,
    /** Injectable for tests. */
    private readonly now: () => number = () => performance.now(),
  ) {}

  refused(fields: Record<string, unknown>): void {
    const now = this.now();
    if (now - this.lastLoggedMs < this.intervalMs) {
      this.suppressed++;
      return;
    }
    this.lastLoggedMs = now;
    const suppressed = this.suppressed;
    this.suppressed = 0;
    this.logger.log("warn", this.message, suppressed === 0 ? fields : { ...fields, suppressed });
  }
}
