import { create } from "@bufbuild/protobuf";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { type Client, Code, ConnectError } from "@connectrpc/connect";
import type { EventEnvelope } from "../../gen/corrbus/v1/envelope_pb.js";
import { type CorrelationService, PublishStreamRequestSchema, type PublishStreamResponse } from "../../gen/corrbus/v1/service_pb.js";
import type { OpenPublishChannel, PublishChannel } from "./publish-channel.js";
import { isRetryable } from "./retry-policy.js";

/** How a stream publisher batches and how much it holds. */
export interface StreamPublisherOptions {
  /**
   * Most envelopes in one PublishStream batch. Default 100: batches of 100
   * carried most of PublishStream's rate in the bench, and a refused batch
   * (see StreamPublisher) is re-sent event by event, so smaller is cheaper
   * to recover. The broker refuses batches over its `maxBatchEnvelopes`
   * (default 1000).
   */
  maxBatchEnvelopes?: number;
  /**
   * Batches sent and not yet acknowledged. Default 32: enough to keep the
   * broker busy while acks travel back; more only holds more in memory.
   */
  maxBatchesInFlight?: number;
  /**
   * Events published and not yet acknowledged, in all. Default 10 000:
   * `publish()` past it waits for room (in order), so a publisher faster than
   * the broker is slowed down instead of growing without bound.
   */
  maxPendingEvents?: number;
}

/** The broker's acknowledgement of one event. */
export interface PublishAck {
  /** The event's id: strictly increasing on the host. */
  eventId: bigint;
  /** How many subscribers the event was routed to. */
  deliveredCount: number;
  /** The broker-stamped receive time (undefined from a broker that does not send it on the stream). */
  receivedAt: Timestamp | undefined;
}

/**
 * Publishes events over one long-lived PublishStream, each with its own
 * promise: events published in the same turn of the event loop go out as one
 * batch, batches are pipelined (no round trip per event), and each event's
 * promise settles with its id when its batch is acknowledged. An acked
 * publish costs no HTTP/2 stream of its own.
 *
 * Outcomes:
 * - The broker refuses a batch whole (INVALID_ARGUMENT, PERMISSION_DENIED,
 *   RESOURCE_EXHAUSTED, …) and ends the stream: nothing of that batch or
 *   after it was stored. The refused batch's events are then published one
 *   by one (unary Publish), so each gets its own answer, as with `publish`;
 *   the batches after it go out again on a new stream, in order.
 * - The connection is lost (the broker crashed or restarted): the events
 *   sent and not acknowledged may or may not be stored, so they are not sent
 *   again; their promises reject with the (retryable) error, and
 *   `publishEnvelopeOnce` decides for each without storing it twice. Events
 *   not yet sent go out on a new stream.
 */
export interface StreamPublisher {
  /** Publishes `envelope` (see CorrelationClient.envelope) on the stream; resolves with its acknowledgement. */
  publish(envelope: EventEnvelope): Promise<PublishAck>;
  /** Resolves once every event published so far is acknowledged or has failed. */
  flush(): Promise<void>;
  /** Flushes, then ends the stream. A publish after close is refused. */
  close(): Promise<void>;
  /** Events published and not yet settled. */
  readonly pending: number;
}

type Publish = Client<typeof CorrelationService>["publish"];

interface PendingEvent {
  envelope: EventEnvelope;
  resolve: (ack: PublishAck) => void;
  reject: (error: ConnectError) => void;
}

/** Creates a stream publisher over PublishStream calls opened by `openChannel`, with `publish` for the events of a refused batch. */
export function createStreamPublisher(openChannel: OpenPublishChannel, publish: Publish, options: StreamPublisherOptions = {}): StreamPublisher {
  return new BatchingPublisher(openChannel, publish, validateStreamPublisherOptions(options));
}

/** The options with their defaults; throws naming an option that is not a positive integer. */
export function validateStreamPublisherOptions(options: StreamPublisherOptions): Required<StreamPublisherOptions> {
  const filled = {
    maxBatchEnvelopes: options.maxBatchEnvelopes ?? 100,
    maxBatchesInFlight: options.maxBatchesInFlight ?? 32,
    maxPendingEvents: options.maxPendingEvents ?? 10_000,
  };
  for (const [name, value] of Object.entries(filled)) {
    if (!Number.isSafeInteger(value) || value < 1) throw new ConnectError(`${name}: ${value} is not a positive integer`, Code.InvalidArgument);
  }
  return filled;
}

class BatchingPublisher implements StreamPublisher {
  /** Published, not yet sent. */
  private readonly queued: PendingEvent[] = [];
  /** Sent on the current stream, not yet acknowledged: one array per batch, in the order sent. */
  private readonly inFlight: PendingEvent[][] = [];
  /** publish() calls waiting for room, in order. */
  private readonly waitingForRoom: (() => void)[] = [];
  private readonly settledListeners: (() => void)[] = [];
  private stream: PublishChannel | undefined;
  private flushScheduled = false;
  /** Set while a refused batch is published event by event: nothing else is sent meanwhile, to keep the order. */
  private recovering = false;
  private closed = false;
  private count = 0;

  constructor(
    private readonly openChannel: OpenPublishChannel,
    private readonly publishOne: Publish,
    private readonly options: Required<StreamPublisherOptions>,
  ) {}

  get pending(): number {
    return this.count;
  }

  async publish(envelope: EventEnvelope): Promise<PublishAck> {
    if (this.closed) throw new ConnectError("the stream publisher is closed", Code.FailedPrecondition);
    if (this.count >= this.options.maxPendingEvents || this.waitingForRoom.length > 0) {
      // settle() counts this event in as it wakes it: the bound holds however many wait.
      await new Promise<void>((resolve) => this.waitingForRoom.push(resolve));
    } else {
      this.count++;
    }
    return new Promise<PublishAck>((resolve, reject) => {
      this.queued.push({ envelope, resolve, reject });
      this.scheduleSend();
    });
  }

  async flush(): Promise<void> {
    while (this.count > 0 || this.waitingForRoom.length > 0) await new Promise<void>((resolve) => this.settledListeners.push(resolve));
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
    this.stream?.end();
    this.stream = undefined;
  }

  /** Sends what is queued at the end of this turn: everything published in the turn rides one batch. */
  private scheduleSend(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(() => {
      this.flushScheduled = false;
      this.send();
    });
  }

  private send(): void {
    while (!this.recovering && this.queued.length > 0 && this.inFlight.length < this.options.maxBatchesInFlight) {
      const batch = this.queued.splice(0, this.options.maxBatchEnvelopes);
      this.inFlight.push(batch);
      this.openStream().send(create(PublishStreamRequestSchema, { envelopes: batch.map((event) => event.envelope) }));
    }
  }

  private openStream(): PublishChannel {
    if (this.stream !== undefined) return this.stream;
    const channel: PublishChannel = this.openChannel({
      ack: (ack) => this.acked(channel, ack),
      end: (error) => void this.ended(channel, error),
    });
    this.stream = channel;
    return channel;
  }

  private acked(channel: PublishChannel, ack: PublishStreamResponse): void {
    const batch = this.inFlight.shift();
    if (batch === undefined) {
      channel.fail(new ConnectError("an acknowledgement for no batch in flight", Code.Internal));
      return;
    }
    for (let index = 0; index < batch.length; index++) {
      batch[index].resolve({ eventId: ack.eventIds[index], deliveredCount: ack.deliveredCounts[index] ?? 0, receivedAt: ack.receivedAt[index] });
    }
    this.settle(batch.length);
    // Room for another batch: what waits in the queue goes out now, not only when someone publishes again.
    this.send();
  }

  private async ended(channel: PublishChannel, endError: ConnectError | undefined): Promise<void> {
    try {
      const error = endError ?? (this.inFlight.length > 0 ? new ConnectError("the stream ended with batches unacknowledged", Code.Unavailable) : undefined);
      if (error !== undefined) await this.streamFailed(channel, error);
    } finally {
      if (this.stream === channel) this.stream = undefined;
      channel.end();
      this.send();
    }
  }

  private async streamFailed(channel: PublishChannel, error: ConnectError): Promise<void> {
    if (this.stream === channel) this.stream = undefined;
    const batches = this.inFlight.splice(0);
    if (batches.length === 0) return;
    if (isRetryable(error)) {
      // The connection went with unknown outcomes: never sent twice from here.
      for (const batch of batches) {
        for (const event of batch) event.reject(error);
        this.settle(batch.length);
      }
      return;
    }
    // Refused whole: nothing of the first batch or after it was stored. The rest goes out again first, in order.
    const [refused, ...notStored] = batches;
    this.queued.unshift(...notStored.flat());
    if (refused.length === 1) {
      // The refusal was this event's own: sending it again would only count it refused twice.
      refused[0].reject(asOwnError(error));
      this.settle(1);
      return;
    }
    this.recovering = true;
    try {
      for (const event of refused) {
        try {
          const answer = await this.publishOne({ envelope: event.envelope });
          event.resolve({ eventId: answer.eventId, deliveredCount: answer.deliveredCount, receivedAt: answer.receivedAt });
        } catch (caught) {
          event.reject(ConnectError.from(caught));
        }
        this.settle(1);
      }
    } finally {
      this.recovering = false;
    }
  }

  private settle(events: number): void {
    this.count -= events;
    while (this.waitingForRoom.length > 0 && this.count < this.options.maxPendingEvents) {
      this.count++;
      (this.waitingForRoom.shift() as () => void)();
    }
    if (this.count === 0 && this.waitingForRoom.length === 0) for (const listener of this.settledListeners.splice(0)) listener();
  }
}

/** A batch's refusal of its only envelope, worded as the unary Publish of that envelope words it. */
function asOwnError(error: ConnectError): ConnectError {
  const batchField = "envelopes[0].";
  if (!error.rawMessage.startsWith(batchField)) return error;
  const own = new ConnectError(error.rawMessage.slice(batchField.length), error.code, error.metadata, undefined, error.cause);
  own.details = error.details;
  return own;
}
