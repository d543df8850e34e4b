import { parseArgs } from "node:util";
import { type BrokerLimits, defaultBrokerLimits } from "../core/validation/broker-limits.js";
import { defaultSocketPath } from "../wire/default-socket-path.js";
import { type LogLevel, createLogger, startBrokerServer } from "../server/index.js";
import { type FsyncPolicy, defaultDataDirectory } from "../storage/index.js";
import { UsageError } from "./usage-error.js";
import { checkHostId } from "../core/validation/host-id.js";

export const serveHelp = `Usage: corrbus serve [options]

Runs the broker on a Unix socket (named pipe on Windows) until SIGTERM or SIGINT,
which drain open calls and remove the socket. Log lines (JSON) go to stderr.

Options:
  --socket PATH            where to listen (default ${defaultSocketPath()};
                           CORRBUS_SOCKET or XDG_RUNTIME_DIR change the default)
  --history-size N         events kept in history (default 1000000)
  --history-bytes N        encoded bytes kept in history (default 536870912)
  --memory-limit N         bytes history, its indexes and tracked workflows may
                           retain (estimated); the oldest go past it (default
                           half the V8 heap limit: --max-old-space-size in
                           NODE_OPTIONS moves both)
  --retention DURATION     drop events older than this, from history and journal
                           (e.g. 12h, 30d; default 30d)
  --data-dir PATH          where the journal lives (default ${defaultDataDirectory()};
                           CORRBUS_DATA_DIR or XDG_STATE_HOME change the default)
  --fsync POLICY           always | batch | never (default batch): when an event
                           counts as stored — after an fsync covering it (always),
                           once written to the OS with an fsync every 5 ms (batch),
                           once written to the OS (never)
  --in-memory              keep no journal: history does not survive a restart
  --control-uid UID        also let this uid publish to control.# (repeatable;
                           the broker's own uid and root always may)
  --socket-group GROUP     open the socket to a group: socket 0660, its
                           directory 0710 (default: 0600 in 0700, owner only)
  --max-connections N      connections open at once; more are closed (default 256)
  --silent-timeout-ms MS   close a connection that has not completed its HTTP/2
                           preface or HTTP/1.1 request head this long after it
                           opened (or its last answer), or an HTTP/2 session that
                           does not answer a ping within it (default 10000)
  --no-lean-paths          serve every call through connect-node (default: Connect
                           binary calls take the lean paths; the same bytes on the wire)
  --max-payload N          largest payload in bytes (default 1048576)
  --subscriber-queue N     events queued per subscriber before it is cut off (default 10000)
  --max-subscribers N      concurrent subscribers (default 1024)
  --max-workflows N        correlations tracked at once (default 100000)
  --workflow-idle SECONDS  forget a correlation idle this long (default 3600)
  --max-depth N            deepest correlation tree (default 8)
  --limit NAME=VALUE       set any limit by name (repeatable), e.g. maxTags=32;
                           docs/reference.md lists them all
  --host-id ID             the host id stamped on every event (1-64 of
                           [A-Za-z0-9_-]; default: /etc/machine-id)
  --log-level LEVEL        debug | info | warn | error (default info)
  -h, --help               this text

Examples:
  corrbus serve --socket /run/user/1000/corrbus/corrbus.sock --history-size 200000
  corrbus serve --fsync always --retention 7d
  corrbus serve --in-memory
`;

const numericOptions: Record<string, keyof BrokerLimits> = {
  "history-size": "historyMaxEvents",
  "history-bytes": "historyMaxBytes",
  "memory-limit": "memoryLimitBytes",
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
      retention: { type: "string" },
      "data-dir": { type: "string" },
      fsync: { type: "string", default: "batch" },
      "in-memory": { type: "boolean", default: false },
      "control-uid": { type: "string", multiple: true, default: [] },
      "socket-group": { type: "string" },
      "max-connections": { type: "string" },
      limit: { type: "string", multiple: true, default: [] },
      "silent-timeout-ms": { type: "string" },
      "no-lean-paths": { type: "boolean", default: false },
      "log-level": { type: "string", default: "info" },
      "host-id": { type: "string" },
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
  if (values.retention !== undefined) limits.historyMaxAgeMs = durationMs("retention", values.retention);
  for (const setting of values.limit) {
    const match = /^([A-Za-z]+)=(\d+)$/.exec(setting);
    if (match === null) throw new UsageError(`--limit: "${setting}" is not NAME=VALUE`);
    if (!(match[1] in defaultBrokerLimits)) throw new UsageError(`--limit: no limit named "${match[1]}" (see docs/reference.md)`);
    limits[match[1] as keyof BrokerLimits] = positiveInteger("limit", match[2]);
  }
  const fsync = values.fsync as FsyncPolicy;
  if (!["always", "batch", "never"].includes(fsync)) throw new UsageError(`--fsync: "${fsync}" is not one of always, batch, never`);
  const level = values["log-level"] as LogLevel;
  if (!["debug", "info", "warn", "error"].includes(level)) throw new UsageError(`--log-level: "${level}" is not one of debug, info, warn, error`);
  const hostId = values["host-id"];
  if (hostId !== undefined) {
    try {
      checkHostId(hostId, "--host-id");
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
  }
  const logger = createLogger(level);
  // Signals are caught before start-up so that one arriving while the journal
  // replays still drains instead of killing the process mid-way.
  let signalled: NodeJS.Signals | undefined;
  const startup = new AbortController();
  let onSignal: (signal: NodeJS.Signals) => void = (signal) => {
    signalled = signal;
    startup.abort(new StartupInterrupted(signal));
  };
  const handle = (signal: NodeJS.Signals) => onSignal(signal);
  process.once("SIGTERM", handle);
  process.once("SIGINT", handle);
  // A start-up that fails has closed what it opened: nothing is left to drain, the error ends the process.
  const server = await startBrokerServer({
    socketPath: values.socket,
    limits,
    logger,
    dataDir: values["data-dir"],
    inMemory: values["in-memory"],
    fsync,
    controlUids: values["control-uid"].map((uid) => nonNegativeInteger("control-uid", uid)),
    socketGroup: values["socket-group"],
    maxConnections: values["max-connections"] === undefined ? undefined : positiveInteger("max-connections", values["max-connections"]),
    firstBytesTimeoutMs: values["silent-timeout-ms"] === undefined ? undefined : positiveInteger("silent-timeout-ms", values["silent-timeout-ms"]),
    leanPaths: !values["no-lean-paths"],
    hostId,
    startupSignal: startup.signal,
    onReplayProgress: process.stderr.isTTY
      ? (done, of) => process.stderr.write(done < of ? `\rreplaying the journal: segment ${done} of ${of}` : "\r\x1b[K")
      : undefined,
  }).catch((error: unknown) => {
    process.off("SIGTERM", handle);
    process.off("SIGINT", handle);
    throw error;
  });
  await new Promise<void>((resolve) => {
    onSignal = (signal) => {
      logger.log("info", "draining", { signal });
      // A second signal means "now".
      process.once(signal, () => process.exit(1));
      server.close().then(resolve, resolve);
    };
    if (signalled !== undefined) onSignal(signalled);
  });
  return 0;
}

/** A start-up stopped by a signal: what it opened is closed, and the broker ends as asked. */
export class StartupInterrupted extends Error {
  override name = "StartupInterrupted";
  constructor(readonly signal: NodeJS.Signals) {
    super(`stopped by ${signal} during start-up; nothing was left open`);
  }
}

const durationUnits: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "90s", "15m", "12h", "30d" → ms. */
function durationMs(flag: string, raw: string): number {
  const match = /^(\d+)([smhd])$/.exec(raw);
  if (match === null || Number(match[1]) < 1) throw new UsageError(`--${flag}: "${raw}" is not a duration such as 90s, 15m, 12h or 30d`);
  return Number(match[1]) * durationUnits[match[2]];
}

function nonNegativeInteger(flag: string, raw: string): number {
  if (!/^\d+$/.test(raw)) throw new UsageError(`--${flag}: "${raw}" is not a number`);
  return Number(raw);
}

function positiveInteger(flag: string, raw: string): number {
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value < 1) {
    throw new UsageError(`--${flag}: "${raw}" is not a positive integer`);
  }
  return value;
}
