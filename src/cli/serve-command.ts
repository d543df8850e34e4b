import { parseArgs } from "node:util";
import { type BrokerLimits, defaultBrokerLimits } from "../core/validation/broker-limits.js";
import { defaultSocketPath } from "../wire/default-socket-path.js";
import { type LogLevel, createLogger, startBrokerServer } from "../server/index.js";
import { type FsyncPolicy, defaultDataDirectory } from "../storage/index.js";
import { UsageError } from "./usage-error.js";
import { checkHostId } from "../core/validation/host-id.js";
import { checkFleetStreamOptions, defaultFleetStream } from "../fleet/fleet-stream.js";
import type { ForwardOptions } from "../fleet/journal-forwarder.js";
import { FleetOptionError, natsConnectionOptions } from "../fleet/nats-link.js";
import type { IngestOptions } from "../fleet/stream-ingester.js";

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

Fleet (docs/fleet.md):
  --forward URLS           forward every journaled event to a NATS JetStream
                           stream (nats://HOST:PORT, comma-separated for a cluster)
  --forward-insecure       allow clear text to a non-loopback server without TLS
  --forward-control        forward control.# events and workflow facts too (default: not)
  --forward-in-flight N    publishes awaiting acknowledgement (default 128, at most 256)
  --forward-backlog N      bytes of unforwarded journal kept past history's
                           bounds before the oldest is given up, counted as lost
                           (default 1073741824)
  --ingest URLS            a central broker: consume the fleet's stream into
                           this broker's history, indexes and tracker
  --ingest-insecure        allow clear text to a non-loopback server without TLS
  --ingest-consumer NAME   the durable consumer (default corrbus-central)
  --ingest-host ID         ingest only this host's events (repeatable: a share
                           of the fleet; default every host)
  --stream NAME            the stream (default CORRBUS; created if missing)
  --subject-prefix P       subjects are P.<host_id>.<topic> (default corrbus)
  --stream-replicas N      replicas when the stream is created (default 1; 3 on
                           a cluster)
  --nats-tls-ca FILE       CA of the servers' certificates (TLS)
  --nats-tls-cert FILE     client certificate, with --nats-tls-key FILE
  --nats-creds FILE        NATS credentials file
  --nats-nkey FILE         file holding an nkey seed
  --nats-user USER         user; the password from CORRBUS_NATS_PASSWORD
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
      forward: { type: "string" },
      "forward-insecure": { type: "boolean", default: false },
      "forward-control": { type: "boolean", default: false },
      "forward-in-flight": { type: "string" },
      "forward-backlog": { type: "string" },
      ingest: { type: "string" },
      "ingest-insecure": { type: "boolean", default: false },
      "ingest-consumer": { type: "string" },
      "ingest-host": { type: "string", multiple: true, default: [] },
      stream: { type: "string", default: defaultFleetStream.stream },
      "subject-prefix": { type: "string", default: defaultFleetStream.subjectPrefix },
      "stream-replicas": { type: "string" },
      "nats-tls-ca": { type: "string" },
      "nats-tls-cert": { type: "string" },
      "nats-tls-key": { type: "string" },
      "nats-creds": { type: "string" },
      "nats-nkey": { type: "string" },
      "nats-user": { type: "string" },
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
  const { forward, ingest } = fleetOptions(values);
  if (forward !== undefined && values["in-memory"]) throw new UsageError("--forward needs the journal: it forwards what the journal stores (drop --in-memory)");
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
    forward,
    ingest,
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

/** --forward and --ingest with the options they share, checked here so a mistake is a usage error (exit 2) naming the flag. */
function fleetOptions(values: Record<string, unknown>): { forward?: ForwardOptions; ingest?: IngestOptions } {
  const text = (name: string) => values[name] as string | undefined;
  const link = {
    tlsCaFile: text("nats-tls-ca"),
    tlsCertFile: text("nats-tls-cert"),
    tlsKeyFile: text("nats-tls-key"),
    credsFile: text("nats-creds"),
    nkeySeedFile: text("nats-nkey"),
    user: text("nats-user"),
    password: text("nats-user") === undefined ? undefined : (process.env.CORRBUS_NATS_PASSWORD ?? ""),
  };
  try {
    const stream = checkFleetStreamOptions({
      stream: text("stream") as string,
      subjectPrefix: text("subject-prefix") as string,
      replicas: text("stream-replicas") === undefined ? undefined : positiveInteger("stream-replicas", text("stream-replicas") as string),
    });
    const out: { forward?: ForwardOptions; ingest?: IngestOptions } = {};
    const forwardUrl = text("forward");
    if (forwardUrl !== undefined) {
      out.forward = {
        ...link,
        ...stream,
        servers: forwardUrl,
        insecure: values["forward-insecure"] === true,
        forwardControl: values["forward-control"] === true,
        maxInFlight: text("forward-in-flight") === undefined ? undefined : positiveInteger("forward-in-flight", text("forward-in-flight") as string),
        maxBacklogBytes: text("forward-backlog") === undefined ? undefined : positiveInteger("forward-backlog", text("forward-backlog") as string),
      };
      natsConnectionOptions(out.forward, "--forward", "check");
    }
    const ingestUrl = text("ingest");
    if (ingestUrl !== undefined) {
      const hostIds = (values["ingest-host"] as string[]).map((host) => checkHostId(host, "--ingest-host"));
      out.ingest = {
        ...link,
        ...stream,
        servers: ingestUrl,
        insecure: values["ingest-insecure"] === true,
        consumer: text("ingest-consumer"),
        hostIds: hostIds.length === 0 ? undefined : hostIds,
      };
      if (out.ingest.consumer !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(out.ingest.consumer)) {
        throw new FleetOptionError(`--ingest-consumer: "${out.ingest.consumer}" must be 1-64 of [A-Za-z0-9_-]`);
      }
      natsConnectionOptions(out.ingest, "--ingest", "check");
    }
    return out;
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError((error as Error).message);
  }
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
