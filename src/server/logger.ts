/** Severity of a log line. */
export type LogLevel = "debug" | "info" | "warn" | "error";

const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Writes structured log lines: one JSON object per line, on stderr by default. */
export interface Logger {
  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void;
}

/**
 * A logger that writes `{"time":…,"level":…,"msg":…,…fields}` lines, dropping
 * those below `minLevel`. JSON lines because operators pipe them to jq or a
 * collector; stderr because stdout belongs to commands' output.
 */
export function createLogger(minLevel: LogLevel = "info", write: (line: string) => void = (line) => process.stderr.write(line)): Logger {
  return {
    log(level, msg, fields = {}) {
      if (order[level] < order[minLevel]) return;
      write(`${JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields })}\n`);
    },
  };
}

/** A logger that drops everything (embedding, tests). */
export const silentLogger: Logger = { log() {} };
