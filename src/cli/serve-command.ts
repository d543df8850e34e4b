import { parseArgs } from "node:util";
import type { BrokerLimits } from "../core/broker-limits.js";
import { defaultSocketPath } from "../core/default-socket-path.js";
import { type LogLevel, createLogger, startBrokerServer } from "../server/index.js";
import { UsageError } from "./usage-error.js";

export const serveHelp = `Usage: corrbus serve [options]

Runs the broker on a Unix socket (named pipe on Windows) until SIGTERM or SIGINT,
which drain open calls and remove the socket. Log lines (JSON) go to stderr.

Options:
  --socket PATH            where to listen (default ${defaultSocketPath()};
                           CORRBUS_SOCKET or XDG_RUNTIME_DIR change the default)
  --history-size N         events kept in history (default 1000000)
  --history-bytes N        encoded bytes kept in history (default 536870912)
  --max-payload N          largest payload in bytes (default 1048576)
  --subscriber-queue N     events queued per subscriber before it is cut off (default 10000)
  --max-subscribers N      concurrent subscribers (default 1024)
  --max-workflows N        correlations tracked at once (default 100000)
  --workflow-idle SECONDS  forget a correlation idle this long (default 3600)
  --max-depth N            deepest correlation tree (default 8)
  --log-level LEVEL        debug | info | warn | error (default info)
  -h, --help               this text

Example:
  corrbus serve --socket /run/user/1000/corrbus/corrbus.sock --history-size 200000
`;

const numericOptions: Record<string, keyof BrokerLimits> = {
  "history-size": "historyMaxEvents",
  "history-bytes": "historyMaxBytes",
  "max-payload": "maxPayloadBytes",
  "subscriber-queue": "subscriberQueueEvents",
  "max-subscribers": "maxSubscribers",
  "max-workflows": "maxActiveWorkflows",
  "max-depth": "maxLineageDepth",
};

/** `corrbus serve`: runs until a signal; answers the exit code. */
export async function serveCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      socket: { type: "string" },
      "workflow-idle": { type: "string" },
      "log-level": { type: "string", default: "info" },
      help: { type: "boolean", short: "h" },
      ...Object.fromEntries(Object.keys(numericOptions).map((name) => [name, { type: "string" as const }])),
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(serveHelp);
    return 0;
  }
  const limits: Partial<BrokerLimits> = {};
  for (const [flag, key] of Object.entries(numericOptions)) {
    const raw = (values as Record<string, unknown>)[flag] as string | undefined;
    if (raw !== undefined) limits[key] = positiveInteger(flag, raw);
  }
  if (values["workflow-idle"] !== undefined) limits.workflowIdleMs = positiveInteger("workflow-idle", values["workflow-idle"]) * 1000;
  const level = values["log-level"] as LogLevel;
  if (!["debug", "info", "warn", "error"].includes(level)) throw new UsageError(`--log-level: "${level}" is not one of debug, info, warn, error`);
  const logger = createLogger(level);
  const server = await startBrokerServer({ socketPath: values.socket, limits, logger });
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      logger.log("info", "draining", { signal });
      // A second signal means "now".
      process.once(signal, () => process.exit(1));
      server.close().then(resolve, resolve);
    };
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
  });
  return 0;
}

function positiveInteger(flag: string, raw: string): number {
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value < 1) {
    throw new UsageError(`--${flag}: "${raw}" is not a positive integer`);
  }
  return value;
}
