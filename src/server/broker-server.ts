import { chmodSync, statSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import * as http from "node:http";
import * as http2 from "node:http2";
import type { Server, Socket } from "node:net";
import { Code, ConnectError, createContextValues } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { CorrelationService } from "../../gen/corrbus/v1/service_pb.js";
import { type BrokerLimits, memoryLimitForHeap } from "../core/validation/broker-limits.js";
import { getHeapStatistics } from "node:v8";
import type { AccessPolicy, PeerIdentity } from "../core/broker-ports.js";
import { CorrelationBroker } from "../core/correlation-broker.js";
import { type FsyncPolicy, Journal, checkDataDirectoryPath, defaultDataDirectory, lockDataDirectory } from "../storage/index.js";
import { AnsweredStreams } from "./answered-streams.js";
import { createCorrelationService } from "./correlation-service.js";
import { type Logger, silentLogger } from "./logger.js";
import { createLeanPublishStream } from "./lean-publish-stream.js";
import { createLeanUnaryRouter } from "./lean-unary-router.js";
import { readPeerCredentials } from "./peer-credentials.js";
import { identifyPeer, peerCredentials, peerIdentityKey } from "./peer-identity.js";
import { ConnectionGate } from "./connection-gate.js";
import { createProtocolSniffingServer } from "./protocol-sniffer.js";
import { guardRequests } from "./request-guard.js";
import { RefusalLog } from "./refusal-log.js";
import { defaultSocketPath } from "../wire/default-socket-path.js";
import { checkHostId } from "../core/validation/host-id.js";
import { readMachineId } from "./machine-id.js";
import { type ForwardOptions, JournalForwarder } from "../fleet/journal-forwarder.js";
import { type IngestOptions, StreamIngester } from "../fleet/stream-ingester.js";
import { type FleetStats, fleetStatsOf } from "./fleet-stats.js";
import { grantGroupAccess, isNamedPipePath, prepareSocketPath, resolveGroup } from "./socket-path.js";

/** How to run the broker. */
export interface BrokerServerOptions {
  /** Where to listen. Default: defaultSocketPath() (`$XDG_RUNTIME_DIR/corrbus/corrbus.sock` or a per-user temp dir). */
  socketPath?: string;
  /** Bounds; unset ones take their defaults (see BrokerLimits), memoryLimitBytes half of this process's V8 heap limit. */
  limits?: Partial<BrokerLimits>;
  /** Where log lines go. Default: nowhere (the CLI passes a stderr logger). */
  logger?: Logger;
  /** How long close() lets open calls finish before cutting connections. Default 5 s. */
  drainTimeoutMs?: number;
  /** Where the journal lives. Default: defaultDataDirectory() (the user's state directory). */
  dataDir?: string;
  /** Keep history in memory only: no journal, nothing survives a restart. Default false. */
  inMemory?: boolean;
  /** When an event counts as stored. Default "batch" (see FsyncPolicy). */
  fsync?: FsyncPolicy;
  /** Uids besides the broker's own and root that may publish to control.#. Default none. */
  controlUids?: readonly number[];
  /** Open the socket to this group (name or gid): socket 0660, directory 0710. Default: owner only (0600 in 0700). */
  socketGroup?: string;
  /** Most connections open at once; more are closed at once and counted. Default 256: a host's collectors need a handful each. */
  maxConnections?: number;
  /** A connection that sends nothing this long (ms) is closed. Default 10 s. */
  firstBytesTimeoutMs?: number;
  /**
   * Serve Connect-binary calls on the lean paths (the same service handlers
   * without connect-node's per-call machinery; the same bytes on the wire).
   * Default true; false sends every call through connect-node, to compare the
   * two or to rule the lean paths out.
   */
  leanPaths?: boolean;
  /** Aborting it stops a start-up in progress (the journal's replay, between segments); what was opened is closed. */
  startupSignal?: AbortSignal;
  /** Told after each journal segment replayed at start-up: how many of how many. */
  onReplayProgress?: (done: number, of: number) => void;
  /**
   * Stamped as host_id on every event accepted (1-64 of [A-Za-z0-9_-]).
   * Default: the machine id (/etc/machine-id), stable across reboots and
   * unique per host, so a fleet's events name their host with no setup.
   */
  hostId?: string;
  /** Forward every journaled event to the fleet's JetStream stream (needs the journal). Default off. */
  forward?: ForwardOptions;
  /** Ingest the fleet's stream: a central broker. Default off. */
  ingest?: IngestOptions;
}

/** A running broker. */
export interface BrokerServer {
  readonly socketPath: string;
  readonly broker: CorrelationBroker;
  /** Stops accepting, ends subscriptions and waits with UNAVAILABLE, drains, removes the socket. */
  close(): Promise<void>;
}

/** Largest request message accepted beyond the payload limit (envelope fields, batches). */
const messageOverheadBytes = 16 * 1024 * 1024;

/**
 * What a peer may send on a stream, and on a connection in all, before the
 * broker reads it (HTTP/2 flow control; Node's default is 64 KiB). A batch of
 * 100 events is ~50 KB, so a collector could send one before waiting for the
 * broker's window update: probe, PublishStream from 1 collector, 128-129 ->
 * 142-148 K events/s at 256 KiB. The connection's window equals the stream's
 * so buffered requests stay bounded: 256 KiB per connection, 64 MiB with the
 * default 256 connections.
 */
const receiveWindowBytes = 256 * 1024;

/**
 * Starts the broker: CorrelationService over HTTP/2 (gRPC, Connect binary and
 * JSON) on a Unix socket created 0600 in a 0700 directory, or a Windows named
 * pipe through the same code path. All or nothing: what can be checked is
 * checked before anything is created, and a failure at any later step closes
 * what was opened (socket, journal, lock) before it is reported.
 */
export async function startBrokerServer(options: BrokerServerOptions = {}): Promise<BrokerServer> {
  const socketPath = options.socketPath ?? defaultSocketPath();
  const logger = options.logger ?? silentLogger;
  const group = options.socketGroup === undefined || isNamedPipePath(socketPath) ? undefined : resolveGroup(options.socketGroup);
  checkHostId(options.hostId ?? readMachineId(), options.hostId === undefined ? "machine id" : "host id");
  if (!options.inMemory) checkDataDirectoryPath(options.dataDir ?? defaultDataDirectory());
  const undo: (() => unknown)[] = [];
  try {
    return await startOpened(options, socketPath, group, logger, undo);
  } catch (error) {
    for (const step of undo.reverse()) {
      try {
        await step();
      } catch {
        // The first failure is the one to report.
      }
    }
    throw error;
  }
}

async function startOpened(
  options: BrokerServerOptions,
  socketPath: string,
  group: number | undefined,
  logger: Logger,
  undo: (() => unknown)[],
): Promise<BrokerServer> {
  // The data directory's lock first: a broker already running on it keeps its socket untouched.
  const { broker, journal, unlock, forwarder } = await openHistory(options, logger);
  undo.push(unlock, () => journal?.close());
  const ingester = options.ingest === undefined ? undefined : new StreamIngester(options.ingest, broker, logger, broker.hostId);
  const { replacedStale, createdDirectory } = await prepareSocketPath(socketPath);
  if (replacedStale) logger.log("warn", "replaced a stale socket (no process was listening on it)", { socket: socketPath });
  const shutdown = new AbortController();
  const readMaxBytes = broker.limits.maxPayloadBytes + messageOverheadBytes;
  const gate = new ConnectionGate(options.maxConnections ?? 256, options.firstBytesTimeoutMs ?? 10_000);
  const maxTimeoutMs = broker.limits.maxWaitMs + 60_000;
  const fleet: FleetStats = () => fleetStatsOf(forwarder?.stats(), ingester?.stats(), broker);
  const service = createCorrelationService(broker, journal, () => gate.stats(), fleet);
  const adapter = connectNodeAdapter({
    routes: (router) => router.service(CorrelationService, service),
    shutdownSignal: shutdown.signal,
    readMaxBytes,
    // Answers are never compressed: on a local socket gzip only costs CPU
    // (Subscribe answers above 1 KiB were gzipped for clients that offer it:
    // zlib was the broker's largest single cost). Compressed requests are
    // still accepted.
    compressMinBytes: Number.MAX_SAFE_INTEGER,
    maxTimeoutMs,
    contextValues: (request) => createContextValues().set(peerIdentityKey, identifyPeer(request)),
  });
  const handler = guardRequests(adapter, logger);
  // Streams per connection are bounded too (Node's default is 2^32-1): with the
  // connection cap this bounds calls in flight, hence the journal's backlog.
  const h2 = http2.createServer({ settings: { maxConcurrentStreams: 128, initialWindowSize: receiveWindowBytes } }, handler);
  // A stream's session is gone once the stream is reset: unverified then (the stream has nobody to answer anyway).
  const identifyStream = (stream: http2.ServerHttp2Stream) => identifyPeer({ socket: stream.session?.socket });
  if (options.leanPaths ?? true) {
    const lean = { readMaxBytes, maxTimeoutMs, shutdownSignal: shutdown.signal, identify: identifyStream };
    takeStreamsFirst(h2, [createLeanUnaryRouter(service, lean), createLeanPublishStream(service, { ...lean, logger })], logger);
  }
  const sessions = new Set<http2.ServerHttp2Session>();
  const answered = new AnsweredStreams();
  h2.on("session", (session) => {
    // The client's SETTINGS follow the preface: the connection has started.
    session.once("remoteSettings", () => gate.started(session.socket as Socket));
    session.setLocalWindowSize(receiveWindowBytes);
    gate.watchSession(session);
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    answered.watch(session);
  });
  // Clients closing their connection (grpc-go's GOAWAY included) surface here: routine, not a warning.
  h2.on("sessionError", (error) => logger.log("debug", "session error", { error: error.message }));
  // HTTP/1.1 on the same socket, for Connect unary calls from tools without HTTP/2.
  const http1 = http.createServer(handler);
  watchRequestHeads(http1, gate);
  const server = createProtocolSniffingServer(http1, h2, (socket) => {
    if (!gate.admit(socket)) return false;
    // Read once per connection, while the descriptor is fresh.
    (socket as unknown as Record<symbol, PeerIdentity>)[peerCredentials] = isNamedPipePath(socketPath) ? { verified: false } : readPeerCredentials(socket);
    return true;
  });

  await listen(server, socketPath);
  const socketInode = isNamedPipePath(socketPath) ? undefined : statSync(socketPath).ino;
  undo.push(
    () => new Promise((resolve) => server.close(resolve)),
    () => removeOwnSocket(socketPath, socketInode),
  );
  if (group !== undefined) {
    grantGroupAccess(socketPath, group, createdDirectory);
    logger.log("info", "socket opened to group", { socket: socketPath, group: options.socketGroup });
  }
  const maintenance = setInterval(() => broker.maintain(), 1000);
  maintenance.unref();
  forwarder?.start(broker.headEventId);
  ingester?.start();
  logger.log("info", "listening", { socket: socketPath, hostId: broker.hostId, limits: broker.limits });

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      clearInterval(maintenance);
      await ingester?.stop();
      broker.beginShutdown(); // the subscriptions this ends keep their deliveries for after a restart
      shutdown.abort(new ConnectError("broker shutting down", Code.Unavailable));
      broker.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const session of sessions) session.close();
      http1.closeIdleConnections();
      // Calls answered in full that the client would keep open (a gRPC PublishStream the client goes on feeding) end now, not at the timeout.
      answered.start();
      const drained = await Promise.race([closed.then(() => true), delay(options.drainTimeoutMs ?? 5000).then(() => false)]);
      answered.stop();
      if (!drained) {
        for (const session of sessions) session.destroy();
        http1.closeAllConnections();
        await closed;
      }
      await journal?.close();
      // After the journal's last write: what it stored is forwarded before the connection goes (what is not, the cursor resumes).
      await forwarder?.stop();
      unlock();
      removeOwnSocket(socketPath, socketInode);
      logger.log("info", "stopped", { socket: socketPath, drained, stats: broker.stats() });
    })();
    return closing;
  };
  return { socketPath, broker, close };
}

/**
 * Lets `lean` handlers take HTTP/2 streams before Node's compatibility layer
 * wraps them in request/response objects (which only the adapter needs). Node serves 'request' through its own 'stream'
 * listener; that listener is kept and called for every stream no lean
 * handler takes.
 */
function takeStreamsFirst(
  h2: http2.Http2Server,
  lean: readonly ((stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => boolean)[],
  logger: Logger,
): void {
  const compat = h2.listeners("stream") as ((...args: unknown[]) => void)[];
  h2.removeAllListeners("stream");
  h2.on("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number, rawHeaders: string[]) => {
    try {
      for (const take of lean) if (take(stream, headers)) return;
    } catch (error) {
      logger.log("warn", "stream failed before it reached a handler", { path: headers[":path"], error: String(error) });
      // Whatever the stream does next has nobody to report to: an unheard 'error' would end the process.
      stream.on("error", () => {});
      try {
        if (!stream.headersSent && !stream.destroyed && !stream.closed) stream.respond({ ":status": 500 }, { endStream: true });
      } catch {
        // A stream that went meanwhile: nobody to answer.
      }
      return;
    }
    for (const listener of compat) listener.call(h2, stream, headers, flags, rawHeaders);
  });
}

/** control.# is for the broker's own user, root, and the uids the operator names. */
function accessPolicy(options: BrokerServerOptions, logger: Logger): AccessPolicy {
  const own = process.getuid?.();
  if (own === undefined) return {};
  const refusals = new RefusalLog(logger, "publish to control.# refused");
  return {
    controlUids: [...new Set([own, 0, ...(options.controlUids ?? [])])],
    onDenied: ({ uid, pid, topic }) => refusals.refused({ uid, pid, topic: topic.slice(0, 64) }),
  };
}

/** The broker with its history: replayed from the journal in the data directory, or in memory only. */
async function openHistory(
  given: BrokerServerOptions,
  logger: Logger,
): Promise<{ broker: CorrelationBroker; journal?: Journal; unlock: () => void; forwarder?: JournalForwarder }> {
  // The memory bound follows the heap this process really has (--max-old-space-size, or Node's default for the machine).
  const memoryLimitBytes = given.limits?.memoryLimitBytes ?? memoryLimitForHeap(getHeapStatistics().heap_size_limit);
  const options = { ...given, limits: { ...given.limits, memoryLimitBytes } };
  const fleet = { hostId: given.hostId ?? readMachineId() };
  if (options.inMemory && options.forward !== undefined) throw new Error("--forward needs the journal: it forwards what the journal stores (drop --in-memory)");
  if (options.inMemory) {
    logger.log("info", "history in memory only (--in-memory): nothing survives a restart");
    return { broker: new CorrelationBroker(options.limits, Date.now, undefined, accessPolicy(options, logger), fleet), unlock: () => {} };
  }
  const dataDir = options.dataDir ?? defaultDataDirectory();
  const unlock = lockDataDirectory(dataDir);
  const journal = new Journal({
    directory: join(dataDir, "journal"),
    fsync: options.fsync,
    onWriteFailure: (error) =>
      logger.log("error", "journal write failed: publishes are refused until a write works again (tried every second)", { error: error.message }),
    onRecovered: (failedForMs) => logger.log("info", "journal writing again", { failedForMs }),
    onStored: (throughId) => forwarder?.stored(throughId),
  });
  const broker = new CorrelationBroker(options.limits, Date.now, journal, accessPolicy(options, logger), fleet);
  let forwarder: JournalForwarder | undefined;
  if (options.forward !== undefined) {
    forwarder = new JournalForwarder(
      options.forward,
      {
        hostId: broker.hostId,
        dataDir,
        retentionMs: broker.limits.historyMaxAgeMs,
        eventsAfter: (id) => broker.eventsAfter(id),
        segmentFiles: () => journal.segmentFiles(),
        releaseHeld: () => journal.releaseHeld(),
      },
      logger,
    );
    const held = forwarder;
    // Before the replay: segments history lets go at start-up stay until forwarded.
    journal.holdSegments(() => held.heldThrough);
  }
  try {
    const report = await journal.open(
      { event: (envelope) => broker.restore(envelope), fact: (fact) => broker.restoreFact(fact) },
      options.startupSignal,
      options.onReplayProgress,
    );
    broker.continueAfter(report.continueAfterId);
    broker.finishRestore();
    for (const problem of report.problems) logger.log("warn", "journal problem", { ...problem });
    logger.log("info", "journal replayed", {
      directory: journal.stats().directory,
      fsync: journal.policy,
      segments: report.segments,
      records: report.records,
      workflowFacts: report.facts,
      untrackedLineage: broker.restoreLineageSkippedCount,
      firstId: report.firstId,
      lastId: report.lastId,
      nextId: report.continueAfterId + 1,
      problems: report.problems.length,
      durationMs: Math.round(report.durationMs),
    });
    broker.maintain();
  } catch (error) {
    await journal.close().catch(() => {});
    unlock();
    throw error;
  }
  return { broker, journal, unlock, forwarder };
}

/**
 * An HTTP/1.1 connection has started once a request head is complete; when
 * its last request in progress is answered, the deadline runs again for the
 * next head (a kept-alive connection must not trickle one in forever either).
 */
function watchRequestHeads(http1: http.Server, gate: ConnectionGate): void {
  const inProgress = new WeakMap<Socket, number>();
  http1.on("request", (request: http.IncomingMessage, response: http.ServerResponse) => {
    const socket = request.socket;
    gate.started(socket);
    inProgress.set(socket, (inProgress.get(socket) ?? 0) + 1);
    response.once("close", () => {
      const left = (inProgress.get(socket) ?? 1) - 1;
      inProgress.set(socket, left);
      if (left === 0) gate.expectStart(socket);
    });
  });
}

function listen(server: Server, socketPath: string): Promise<void> {
  return new Promise((resolve, reject) => {
    // Created 0600 from the first instant: no window where others could connect.
    const previousUmask = isNamedPipePath(socketPath) ? undefined : process.umask(0o177);
    const restore = () => {
      if (previousUmask !== undefined) process.umask(previousUmask);
    };
    server.once("error", (error) => {
      restore();
      reject(error);
    });
    server.listen(socketPath, () => {
      restore();
      if (!isNamedPipePath(socketPath)) chmodSync(socketPath, 0o600);
      resolve();
    });
  });
}

/** Removes the socket file unless another broker has replaced it meanwhile. */
function removeOwnSocket(socketPath: string, inode: number | undefined): void {
  if (inode === undefined) return;
  try {
    if (statSync(socketPath).ino === inode) unlinkSync(socketPath);
  } catch {
    // Already gone.
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
