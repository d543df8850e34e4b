/** Where progress goes: a writable stream that may be a terminal. */
export interface ProgressStream {
  readonly isTTY?: boolean;
  write(text: string): unknown;
}

/** A one-line status on a terminal, rewritten in place. */
export interface Progress {
  /** Shows `text` in place of the previous status. */
  update(text: string): void;
  /** Shows `text()` now and again every `intervalMs` until done (an elapsed-time counter, say). */
  every(intervalMs: number, text: () => string): void;
  /** Clears the status line; call before the command's own output and at the end. */
  done(): void;
}

/**
 * Progress on stderr for long operations (paging through a search, waiting
 * for results) — only when stderr is a terminal, so pipes, files and scripts
 * see nothing but the command's output.
 */
export function createProgress(stream: ProgressStream = process.stderr): Progress {
  if (!stream.isTTY) return { update() {}, every() {}, done() {} };
  let shown = false;
  let timer: NodeJS.Timeout | undefined;
  const update = (text: string) => {
    stream.write(`\r\x1b[K${text}`);
    shown = true;
  };
  return {
    update,
    every(intervalMs, text) {
      clearInterval(timer);
      update(text());
      timer = setInterval(() => update(text()), intervalMs);
      timer.unref();
    },
    done() {
      clearInterval(timer);
      timer = undefined;
      if (shown) stream.write("\r\x1b[K");
      shown = false;
    },
  };
}
