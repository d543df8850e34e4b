import { fromBinary } from "@bufbuild/protobuf";
import { AckPolicy, type ConsumerMessages, DeliverPolicy, type JsMsg, StorageType, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { type EventEnvelope, EventEnvelopeSchema } from "../../gen/corrbus/v1/envelope_pb.js";
import type { IngestOutcome } from "../core/broker-ports.js";
import { maxIngestAckPending } from "../core/fleet/origin-ledger.js";
import { rememberReceived } from "../wire/encoded-events.js";
import { type FleetStreamOptions, ensureFleetStream, hostSubjects, isFactSubject } from "./fleet-stream.js";
import { connectNats } from "./nats-connect.js";
import { type FleetLogger, type NatsLinkOptions, natsConnectionOptions, watchConnection } from "./nats-link.js";

/** How a central broker ingests the fleet's stream (`corrbus serve --ingest`). */
export interface IngestOptions extends NatsLinkOptions, FleetStreamOptions {
  /** The durable consumer's name: JetStream keeps this broker's position under it. Default "corrbus-central". */
  consumer?: string;
  /**
   * Only these hosts' events (their subjects `<prefix>.<host_id>.>`), for
   * several central brokers each taking a share of the fleet. Default: every
   * host.
   */
  hostIds?: readonly string[];
}

/** Where ingested events go: CorrelationBroker.ingest. */
export interface IngestTarget {
  ingest(envelopes: readonly EventEnvelope[]): Promise<IngestOutcome>;
}

/** What GetStats shows of ingest. */
export interface IngestStatsView {
  servers: string;
  stream: string;
  consumer: string;
  connected: boolean;
  received: number;
  stored: number;
  duplicates: number;
  refused: number;
  pending: number;
  reconnects: number;
  /** Consumes begun anew after the consumer stopped answering. */
  restarts: number;
  /** Workflow facts received (a host forwarding with --forward-control), acknowledged unapplied. */
  factsReceived: number;
}

/** Events handed to the broker at once: what one journal write takes comfortably. */
const maxBatch = 512;
/** Messages JetStream may have delivered and not yet seen acknowledged (the dedup window of OriginLedger relies on it). */
const maxAckPending = maxIngestAckPending;
/**
 * How long JetStream waits for an acknowledgement before delivering a message
 * again: what a central broker that died holding unacknowledged messages
 * waits for them after its restart. Long enough for a full buffer to be
 * journaled on a slow disk, short enough that a restart catches up soon.
 */
const ackWaitNanos = 10_000_000_000;

/**
 * StreamIngester feeds a central broker from the fleet's JetStream stream
 * through a durable pull consumer (JetStream keeps the position: a restarted
 * central broker goes on where it stopped, and a new one with a new consumer
 * name rebuilds from the whole stream). Messages are handed to the broker in
 * batches, one at a time, and acknowledged once the broker's journal holds
 * them; a batch the journal refuses is not acknowledged and comes back. A
 * message whose subject names another host than its event is refused, so a
 * host's NATS permissions (publish only to `<prefix>.<its id>.>`) decide what
 * it can claim to be.
 */
export class StreamIngester {
  private nc: NatsConnection | undefined;
  private messages: ConsumerMessages | undefined;
  private readonly queue: JsMsg[] = [];
  private wakeUp: (() => void) | undefined;
  private stopped = false;
  /** Aborts a first connection still being retried, so stop() does not wait for a server that never answers. */
  private readonly stopping = new AbortController();
  private running: Promise<void> | undefined;
  private readonly consumerName: string;
  private readonly connectOptions: ReturnType<typeof natsConnectionOptions>;
  private readonly counters = { received: 0, stored: 0, duplicates: 0, refused: 0, pending: 0, reconnects: 0, restarts: 0, factsReceived: 0 };

  constructor(
    private readonly options: IngestOptions,
    private readonly target: IngestTarget,
    private readonly logger: FleetLogger,
    centralHostId: string,
  ) {
    this.consumerName = options.consumer ?? "corrbus-central";
    this.connectOptions = natsConnectionOptions(options, "--ingest", `corrbus-ingest-${centralHostId}`);
  }

  start(): void {
    this.running = this.run().catch((error) => {
      if (!this.stopped) this.logger.log("error", "ingest stopped", { error: String(error) });
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    this.messages?.stop();
    this.wake();
    await this.running;
    await this.nc?.drain().catch(() => {});
  }

  stats(): IngestStatsView {
    return {
      servers: this.options.servers,
      stream: this.options.stream,
      consumer: this.consumerName,
      connected: this.nc !== undefined && !this.nc.isClosed() && this.messages !== undefined,
      ...this.counters,
    };
  }

  private async run(): Promise<void> {
    const nc = await connectNats(this.connectOptions, this.options, "ingest", this.logger, this.stopping.signal);
    if (nc === undefined) return;
    this.nc = nc;
    void watchConnection(nc, "ingest", this.logger, () => this.counters.reconnects++);
    let pump: Promise<void> | undefined;
    while (!this.stopped) {
      try {
        const jsm = await jetstreamManager(nc, { timeout: 5000 });
        await ensureFleetStream(jsm, this.options, StorageType.File);
        const subjects = this.options.hostIds?.map((host) => hostSubjects(this.options.subjectPrefix, host)) ?? [hostSubjects(this.options.subjectPrefix)];
        const config = {
          durable_name: this.consumerName,
          ack_policy: AckPolicy.Explicit,
          deliver_policy: DeliverPolicy.All,
          ack_wait: ackWaitNanos,
          max_ack_pending: maxAckPending,
          ...(subjects.length === 1 ? { filter_subject: subjects[0] } : { filter_subjects: subjects }),
        };
        try {
          await jsm.consumers.info(this.options.stream, this.consumerName);
        } catch {
          await jsm.consumers.add(this.options.stream, config);
        }
        const consumer = await jetstream(nc).consumers.get(this.options.stream, this.consumerName);
        // Pulls expire after 5 s, so the server's heartbeats come every 2.5 s and a consumer lost with a node is noticed in seconds.
        const messages = await consumer.consume({ max_messages: maxBatch, expires: 5000 });
        this.messages = messages;
        void this.watchConsumer(messages);
        this.logger.log("info", "ingest consuming", { servers: this.options.servers, stream: this.options.stream, consumer: this.consumerName, subjects });
        pump ??= this.pump();
        for await (const message of messages) {
          this.counters.received++;
          this.counters.pending = message.info.pending;
          this.queue.push(message);
          this.wake();
        }
        if (this.stopped) break;
        await delay(500);
      } catch (error) {
        if (this.stopped) break;
        this.logger.log("warn", "ingest failed; consuming again", { error: String(error) });
        await delay(1000);
      }
    }
    this.wake();
    await pump;
  }

  /** Hands queued messages to the broker, a batch at a time, acknowledging each batch once stored. */
  private async pump(): Promise<void> {
    while (!this.stopped || this.queue.length > 0) {
      if (this.queue.length === 0) {
        if (this.stopped) break;
        await new Promise<void>((resolve) => {
          this.wakeUp = resolve;
        });
        continue;
      }
      const batch = this.queue.splice(0, maxBatch);
      const envelopes: EventEnvelope[] = [];
      const kept: JsMsg[] = [];
      for (const message of batch) {
        // A host's workflow facts stay in the stream as its evidence; the tracker here derives workflow state from the events.
        if (isFactSubject(this.options.subjectPrefix, message.subject)) {
          this.counters.factsReceived++;
          message.ack();
          continue;
        }
        const envelope = this.decode(message);
        if (envelope === undefined) {
          message.term();
          continue;
        }
        envelopes.push(envelope);
        kept.push(message);
      }
      try {
        const outcome = await this.target.ingest(envelopes);
        this.counters.stored += outcome.stored;
        this.counters.duplicates += outcome.duplicates;
        this.counters.refused += outcome.refused.length;
        for (const refusal of outcome.refused) this.logger.log("warn", "ingested event refused", { ...refusal, index: undefined });
        for (const message of kept) message.ack();
      } catch (error) {
        this.logger.log("warn", "ingest batch not stored; JetStream delivers it again", { error: String(error), events: kept.length });
        for (const message of kept) message.nak(1000);
      }
    }
  }

  /** The message's event, or undefined (refused, counted and logged) when it cannot be one. */
  private decode(message: JsMsg): EventEnvelope | undefined {
    try {
      const envelope = rememberReceived(fromBinary(EventEnvelopeSchema, message.data), message.data);
      const subjectHost = message.subject.slice(this.options.subjectPrefix.length + 1).split(".")[0];
      if (envelope.hostId !== subjectHost) {
        throw new Error(`host_id "${envelope.hostId.slice(0, 64)}" differs from the subject's host "${subjectHost}"`);
      }
      return envelope;
    } catch (error) {
      this.counters.refused++;
      this.logger.log("warn", "stream message refused", { subject: message.subject, sequence: message.seq, error: String(error) });
      return undefined;
    }
  }

  /**
   * Ends a consume that no longer gets messages (its heartbeats missed, the
   * consumer or stream gone: a cluster node died with its leader), so the
   * loop in run() looks the consumer up again and consumes anew.
   */
  private async watchConsumer(messages: ConsumerMessages): Promise<void> {
    for await (const status of messages.status()) {
      const lost =
        (status.type === "heartbeats_missed" && status.count >= 2) ||
        status.type === "consumer_not_found" ||
        status.type === "consumer_deleted" ||
        status.type === "stream_not_found" ||
        status.type === "no_responders";
      if (lost && !this.stopped) {
        this.counters.restarts++;
        this.logger.log("warn", "ingest consumer not answering; consuming anew", { status: status.type });
        messages.stop();
        return;
      }
    }
  }

  private wake(): void {
    const wake = this.wakeUp;
    this.wakeUp = undefined;
    wake?.();
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
