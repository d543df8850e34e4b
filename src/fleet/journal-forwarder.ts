import { join } from "node:path";
import { type JetStreamManager, StorageType, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { maxForwardInFlight } from "../core/fleet/origin-ledger.js";
import { isControlTopic } from "../core/routing/topic-pattern.js";
import { peekTopic } from "../wire/stored-envelope.js";
import { ForwardCursor } from "./forward-cursor.js";
import { type FleetStreamOptions, ensureFleetStream, eventSubject, factMessageId, factSubject, messageId } from "./fleet-stream.js";
import { JournalTail } from "./journal-tail.js";
import { connectNats } from "./nats-connect.js";
import { PubAckPipeline } from "./pub-ack-pipeline.js";
import { FleetOptionError, type FleetLogger, type NatsLinkOptions, natsConnectionOptions, watchConnection } from "./nats-link.js";

/** How to forward a host's journal (`corrbus serve --forward`). */
export interface ForwardOptions extends NatsLinkOptions, FleetStreamOptions {
  /**
   * Forward control.# events too, and the journal's workflow facts (who a task
   * was delivered to, who left or came back) on `<prefix>.<host_id>.facts`.
   * Default false: tasks are a host's own business; their answers (events.#)
   * carry the evidence.
   */
  forwardControl?: boolean;
  /** Publishes awaiting JetStream's acknowledgement at most. Default 128; at most 256 (the central broker's dedup window relies on it). */
  maxInFlight?: number;
  /**
   * Bytes of journal segments not yet forwarded kept past history's own
   * bounds. Default 1 GiB. Past it (or past the retention age) the oldest
   * unforwarded segment is given up: counted as lost and logged, never
   * silently.
   */
  maxBacklogBytes?: number;
}

/** The forwarder's view of the broker and its journal. */
export interface ForwardSource {
  readonly hostId: string;
  /** `<data-dir>`: the journal is in its `journal` folder, the cursor beside it. */
  readonly dataDir: string;
  /** Stored events after an id, and the receive time of the first (the lag). */
  eventsAfter(id: number): { count: number; firstTimeMs: number };
  /** The journal's segment files now (the backlog bound). */
  segmentFiles(): readonly { firstId: number; bytes: number }[];
  /** The retention age (events older leave history and, once forwarded, the journal). */
  readonly retentionMs: number;
  /** Lets segments go that were kept for forwarding, up to the durable cursor. */
  releaseHeld(): void;
}

/** What GetStats shows of forwarding. */
export interface ForwardStatsView {
  servers: string;
  stream: string;
  subjectPrefix: string;
  connected: boolean;
  ackedEventId: number;
  lastAckMs: number;
  lagEvents: number;
  lagMs: number;
  published: number;
  acked: number;
  duplicates: number;
  inFlight: number;
  maxInFlight: number;
  reconnects: number;
  publishErrors: number;
  eventsLost: number;
  segmentsLost: number;
  eventsSkipped: number;
  factsAcked: number;
}

/** A publish awaiting its acknowledgement: the position it moves the cursor to (an event id, facts after it). */
interface InFlight {
  id: number;
  facts: number;
  settled: boolean;
  failed: boolean;
}

const defaultMaxInFlight = 128;
const defaultMaxBacklogBytes = 1024 ** 3;
/** Longest wait between two looks at the journal when nothing woke the forwarder (a missed wake costs at most this). */
const idlePollMs = 250;
/** How long newly stored events gather before they are sent. */
const gatherMs = 5;
/** Backoff after a failed publish: doubled each time up to the cap, with jitter. */
const backoffStartMs = 100;
const backoffCapMs = 5000;

/**
 * JournalForwarder copies every event the host's journal stores to a
 * JetStream stream, in id order, each as its journaled bytes on
 * `<prefix>.<host_id>.<topic>` with `Nats-Msg-Id: <host_id>-<event_id>`, so
 * JetStream stores each event once however often it is sent. Up to
 * `maxInFlight` publishes await their acknowledgement at once; the cursor
 * (ForwardCursor) moves past an event once it and every one before it are
 * acknowledged. A failed publish (NATS down, a timeout, the stream
 * unavailable) stops sending, lets the others settle, and sends again from the
 * cursor after a backoff: at least once into the stream, exactly once in it
 * by its dedup. The journal keeps segments until the cursor on disk has
 * passed them, within `maxBacklogBytes` and the retention age: past those the
 * oldest unforwarded segment is given up, counted (`events_lost`) and logged.
 */
export class JournalForwarder {
  private readonly cursor: ForwardCursor;
  private readonly tail: JournalTail;
  private readonly maxInFlight: number;
  private readonly maxBacklogBytes: number;
  private readonly connectOptions: ReturnType<typeof natsConnectionOptions>;
  private nc: NatsConnection | undefined;
  private pipeline: PubAckPipeline | undefined;
  private inFlight: InFlight[] = [];
  private storedThrough = 0;
  private acked = 0;
  /** Facts after `acked` acknowledged. */
  private ackedFacts = 0;
  private wakeUp: (() => void) | undefined;
  private gathering: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Aborts a first connection still being retried, so stop() does not wait for a server that never answers. */
  private readonly stopping = new AbortController();
  private running: Promise<void> | undefined;
  private readonly counters = {
    published: 0,
    acked: 0,
    duplicates: 0,
    reconnects: 0,
    publishErrors: 0,
    eventsLost: 0,
    segmentsLost: 0,
    eventsSkipped: 0,
    factsAcked: 0,
    lastAckMs: 0,
  };

  constructor(
    private readonly options: ForwardOptions,
    private readonly source: ForwardSource,
    private readonly logger: FleetLogger,
  ) {
    const maxInFlight = options.maxInFlight ?? defaultMaxInFlight;
    if (!Number.isSafeInteger(maxInFlight) || maxInFlight < 1 || maxInFlight > maxForwardInFlight) {
      throw new FleetOptionError(`--forward-in-flight: ${maxInFlight} is not between 1 and ${maxForwardInFlight}`);
    }
    this.maxInFlight = maxInFlight;
    this.maxBacklogBytes = options.maxBacklogBytes ?? defaultMaxBacklogBytes;
    this.connectOptions = natsConnectionOptions(options, "--forward", `corrbus-forward-${source.hostId}`);
    this.cursor = new ForwardCursor(source.dataDir, options.stream);
    this.acked = this.cursor.durable;
    this.ackedFacts = this.cursor.durableFacts;
    this.tail = new JournalTail(
      join(source.dataDir, "journal"),
      { afterId: this.cursor.durable, factsAfter: this.cursor.durableFacts },
      options.forwardControl === true,
    );
  }

  /**
   * The journal keeps every segment after this event. With facts forwarded it
   * is the one before the cursor's event: the facts not yet acknowledged
   * after that event may share its segment.
   */
  get heldThrough(): number {
    return this.options.forwardControl === true ? Math.max(0, this.cursor.durable - 1) : this.cursor.durable;
  }

  /** Starts forwarding in the background (connects, creates the stream if missing, then follows the journal). */
  start(storedThrough: number): void {
    this.storedThrough = storedThrough;
    this.running = this.run().catch((error) => this.logger.log("error", "forwarding stopped", { error: String(error) }));
  }

  /** The journal stored events through `id`: more to send. */
  stored(id: number): void {
    this.storedThrough = Math.max(this.storedThrough, id);
    // Events stored within a few ms go out together, after the acks of their Publish calls: one socket write to NATS for
    // many events instead of one each, taken between publishes rather than on their way.
    this.gathering ??= setTimeout(() => {
      this.gathering = undefined;
      this.wake();
    }, gatherMs);
  }

  /** Stops: publishes in flight settle (briefly), the cursor is written, the connection drained. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.gathering);
    this.stopping.abort();
    this.wake();
    await this.running;
    await this.cursor.flush();
    this.tail.close();
    await this.nc?.drain().catch(() => {});
  }

  stats(): ForwardStatsView {
    const lag = this.source.eventsAfter(this.acked);
    return {
      servers: this.options.servers,
      stream: this.options.stream,
      subjectPrefix: this.options.subjectPrefix,
      connected: this.nc !== undefined && !this.nc.isClosed() && this.pipeline !== undefined,
      ackedEventId: this.acked,
      lastAckMs: this.counters.lastAckMs,
      lagEvents: lag.count,
      lagMs: lag.count === 0 ? 0 : Math.max(0, Date.now() - lag.firstTimeMs),
      published: this.counters.published,
      acked: this.counters.acked,
      duplicates: this.counters.duplicates,
      inFlight: this.inFlight.filter((entry) => !entry.settled).length,
      maxInFlight: this.maxInFlight,
      reconnects: this.counters.reconnects,
      publishErrors: this.counters.publishErrors,
      eventsLost: this.counters.eventsLost,
      segmentsLost: this.counters.segmentsLost,
      eventsSkipped: this.counters.eventsSkipped,
      factsAcked: this.counters.factsAcked,
    };
  }

  private async run(): Promise<void> {
    const nc = await connectNats(this.connectOptions, this.options, "forwarding", this.logger, this.stopping.signal);
    if (nc === undefined) return;
    this.nc = nc;
    void watchConnection(this.nc, "forwarding", this.logger, () => this.counters.reconnects++);
    this.logger.log("info", "forwarding connected", { servers: this.options.servers, stream: this.options.stream, cursor: this.acked });
    let backoffMs = backoffStartMs;
    while (!this.stopped) {
      try {
        if (this.pipeline === undefined) {
          const jsm: JetStreamManager = await jetstreamManager(this.nc, { timeout: 5000 });
          await ensureFleetStream(jsm, this.options, StorageType.File);
          this.pipeline = new PubAckPipeline(this.nc);
        }
        await this.forward();
        backoffMs = backoffStartMs;
      } catch (error) {
        if (this.stopped) break;
        this.counters.publishErrors++;
        this.logger.log("warn", "forwarding failed; sending again from the cursor", { error: String(error), cursor: this.acked, retryInMs: backoffMs });
        await this.settleAll();
        this.tail.seek({ afterId: this.acked, factsAfter: this.ackedFacts });
        await delay(backoffMs + Math.random() * backoffMs);
        backoffMs = Math.min(backoffCapMs, backoffMs * 2);
        // A stream deleted (no stream takes the subject now) or a manager call timed out: look the stream up again.
        if (String(error).includes("stream not found") || String(error).includes("did not take the message")) this.closePipeline();
      }
    }
    await this.settleAll();
    this.closePipeline();
  }

  private closePipeline(): void {
    this.pipeline?.close();
    this.pipeline = undefined;
  }

  /** Sends until stopped or a publish fails (thrown). */
  private async forward(): Promise<void> {
    const pipeline = this.pipeline as PubAckPipeline;
    let failure: unknown;
    while (!this.stopped && failure === undefined) {
      this.enforceBacklogBound();
      const room = this.maxInFlight - this.inFlight.length;
      const records = room > 0 ? this.tail.read(room, this.storedThrough) : [];
      for (const record of records) {
        const entry: InFlight =
          record.kind === "event"
            ? { id: record.id, facts: 0, settled: false, failed: false }
            : { id: record.afterId, facts: record.ordinal + 1, settled: false, failed: false };
        this.inFlight.push(entry);
        let sent: Promise<{ duplicate: boolean }>;
        if (record.kind === "fact") {
          sent = pipeline.publish(
            factSubject(this.options.subjectPrefix, this.source.hostId),
            record.fact,
            factMessageId(this.source.hostId, record.afterId, record.ordinal),
          );
        } else {
          const topic = peekTopic(record.envelope);
          if (!this.options.forwardControl && isControlTopic(topic)) {
            entry.settled = true;
            this.counters.eventsSkipped++;
            continue;
          }
          sent = pipeline.publish(
            eventSubject(this.options.subjectPrefix, this.source.hostId, topic),
            record.envelope,
            messageId(this.source.hostId, record.id),
          );
        }
        this.counters.published++;
        sent.then(
          (ack) => {
            entry.settled = true;
            this.counters.acked++;
            if (record.kind === "fact") this.counters.factsAcked++;
            if (ack.duplicate) this.counters.duplicates++;
            this.counters.lastAckMs = Date.now();
            this.advance();
          },
          (error: unknown) => {
            entry.settled = true;
            entry.failed = true;
            failure ??= error;
            this.wake();
          },
        );
      }
      this.advance();
      if (failure !== undefined) break;
      if (records.length === 0 || this.inFlight.length >= this.maxInFlight) await this.sleep();
    }
    if (failure !== undefined) throw failure;
  }

  /** Moves the cursor past the acknowledged head of the window. */
  private advance(): void {
    let moved = false;
    while (this.inFlight.length > 0 && this.inFlight[0].settled && !this.inFlight[0].failed) {
      const entry = this.inFlight.shift() as InFlight;
      this.acked = entry.id;
      this.ackedFacts = entry.facts;
      moved = true;
    }
    if (moved) {
      this.cursor.advance(this.acked, this.ackedFacts).then(
        () => this.source.releaseHeld(),
        (error) => this.logger.log("error", "forward cursor not written", { error: String(error), path: this.cursor.path }),
      );
      this.wake();
    }
  }

  /** Waits for every publish in flight to settle, then forgets them (the tail is sent again from the cursor). */
  private async settleAll(): Promise<void> {
    while (this.inFlight.some((entry) => !entry.settled)) await this.sleep();
    this.advance();
    this.inFlight = [];
  }

  /**
   * Gives up the oldest unforwarded segment when the segments not yet
   * forwarded pass the backlog bytes, or its newest events are past the
   * retention age (history dropped them already): counted and logged.
   */
  private enforceBacklogBound(): void {
    const segments = this.source.segmentFiles();
    const current = this.tail.currentSegment;
    if (current === undefined || segments.length < 2) return;
    const firstId = Number(current.slice(0, 20));
    const index = segments.findIndex((segment) => segment.firstId === firstId);
    if (index < 0 || index === segments.length - 1) return;
    const backlog = segments.slice(index).reduce((sum, segment) => sum + segment.bytes, 0);
    const next = segments[index + 1];
    const tooOld = this.source.eventsAfter(next.firstId - 1).count > 0 && this.oldestUnforwardedAgeMs() > this.source.retentionMs;
    if (backlog <= this.maxBacklogBytes && !tooOld) return;
    const lost = this.tail.skipSegment();
    this.counters.eventsLost += lost;
    this.counters.segmentsLost++;
    this.logger.log("error", "journal segment given up before it was forwarded", {
      segment: current,
      eventsLost: lost,
      backlogBytes: backlog,
      maxBacklogBytes: this.maxBacklogBytes,
      reason: tooOld ? "older than the retention" : "the unforwarded backlog passed --forward-backlog",
    });
  }

  private oldestUnforwardedAgeMs(): number {
    const lag = this.source.eventsAfter(this.acked);
    return lag.count === 0 ? 0 : Date.now() - lag.firstTimeMs;
  }

  private wake(): void {
    const wake = this.wakeUp;
    this.wakeUp = undefined;
    wake?.();
  }

  private sleep(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wakeUp = undefined;
        resolve();
      }, idlePollMs);
      this.wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
