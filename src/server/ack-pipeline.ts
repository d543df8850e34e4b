/**
 * AckPipeline is a bounded, ordered queue of pending answers: a reader pushes
 * promises as requests arrive, the writer iterates their results in push
 * order. At most `depth` are pending; `room()` waits for space. After `fail`,
 * the writer gets the answers pushed before, then the error.
 */
export class AckPipeline<T> implements AsyncIterable<T> {
  private readonly pending: Promise<T>[] = [];
  private ended = false;
  private closed = false;
  private failure: { error: unknown } | undefined;
  private wakeWriter: (() => void) | undefined;
  private wakeReader: (() => void) | undefined;

  constructor(private readonly depth: number) {}

  /** Undefined when another answer may be pushed now; else a promise that resolves when one may. */
  room(): Promise<void> | undefined {
    if (this.closed || this.pending.length < this.depth) return undefined;
    return new Promise((resolve) => (this.wakeReader = resolve));
  }

  push(answer: Promise<T>): void {
    // Observed here so an early rejection is not reported as unhandled; the writer still sees it.
    answer.catch(() => {});
    this.pending.push(answer);
    this.notify();
  }

  end(): void {
    this.ended = true;
    this.notify();
  }

  /** The writer is gone: let a waiting reader go on (and finish) without blocking. */
  close(): void {
    this.closed = true;
    const wake = this.wakeReader;
    this.wakeReader = undefined;
    wake?.();
  }

  fail(error: unknown): void {
    this.failure = { error };
    this.notify();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    for (;;) {
      const next = this.pending.shift();
      if (next !== undefined) {
        const wake = this.wakeReader;
        this.wakeReader = undefined;
        wake?.();
        yield await next;
        continue;
      }
      if (this.failure !== undefined) throw this.failure.error;
      if (this.ended) return;
      await new Promise<void>((resolve) => (this.wakeWriter = resolve));
    }
  }

  private notify(): void {
    const wake = this.wakeWriter;
    this.wakeWriter = undefined;
    wake?.();
  }
}
