import type { Readable } from "node:stream";

/** Splits a stream into lines and lets tests wait for a line that matches. */
export class LineReader {
  readonly lines: string[] = [];
  private buffer = "";
  private readonly listeners: ((line: string) => void)[] = [];
  private ended = false;
  private readonly endListeners: (() => void)[] = [];

  constructor(stream: Readable) {
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => {
      this.buffer += chunk;
      let index = this.buffer.indexOf("\n");
      while (index >= 0) {
        const line = this.buffer.slice(0, index);
        this.buffer = this.buffer.slice(index + 1);
        this.lines.push(line);
        for (const listener of [...this.listeners]) listener(line);
        index = this.buffer.indexOf("\n");
      }
    });
    stream.on("end", () => {
      this.ended = true;
      for (const listener of this.endListeners) listener();
    });
  }

  onLine(listener: (line: string) => void): void {
    this.listeners.push(listener);
  }

  /** Resolves with the first line (already read or coming) that matches. */
  waitFor(match: (line: string) => boolean, timeoutMs: number): Promise<string> {
    const seen = this.lines.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.remove(listener);
        reject(new Error(`no matching line within ${timeoutMs} ms; last lines: ${this.lines.slice(-5).join(" | ")}`));
      }, timeoutMs);
      const listener = (line: string) => {
        if (!match(line)) return;
        clearTimeout(timer);
        this.remove(listener);
        resolve(line);
      };
      this.listeners.push(listener);
    });
  }

  /** Resolves when the stream ends. */
  end(): Promise<void> {
    if (this.ended) return Promise.resolve();
    return new Promise((resolve) => this.endListeners.push(resolve));
  }

  private remove(listener: (line: string) => void): void {
    const index = this.listeners.indexOf(listener);
    if (index >= 0) this.listeners.splice(index, 1);
  }
}
