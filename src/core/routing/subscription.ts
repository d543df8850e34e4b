import type { EventEnvelope } from "../../../gen/corrbus/v1/envelope_pb.js";
import { encodingOf } from "../../wire/encoded-events.js";
import { SubscriberQueue } from "./subscriber-queue.js";
import { type TopicPattern, topicMatches } from "./topic-pattern.js";

/** Why a subscription was ended by the broker rather than by its reader. */
export class SubscriberCutOffError extends Error {
  override name = "SubscriberCutOffError";

  constructor(
    message: string,
    /** Id of the last event the subscriber was given, so it can resume by replay after it. */
    readonly lastDeliveredId: number,
  ) {
    super(message);
  }
}

/** Reads stored events for replay: up to `max` matching events with id >= `fromId`. */
export interface ReplaySource {
  /** Oldest id still held (0 when empty). */
  firstId(): number;
  /** Newest id held (0 when empty). */
  lastId(): number;
  /** Matching events from `fromId` on, at most `max`, and the id to continue from. */
  read(fromId: number, max: number, matches: (topic: string) => boolean): { events: EventEnvelope[]; nextId: number };
}

/** What a subscriber asked for. */
export interface SubscriptionOptions {
  /** Parsed topic patterns; an event matching any of them is delivered. */
  patterns: readonly TopicPattern[];
  /** Queue group name; empty for none. */
  queueGroup: string;
  /** Declared name (the source_process it answers as). */
  name: string;
  /** Pid: kernel-verified when `pidVerified`, else as stated. */
  pid: number;
  /** True when pid came from the kernel. */
  pidVerified: boolean;
  /** Replay stored events with id >= this before live ones; undefined for live only. */
  replayFromId?: number;
}

/**
 * One subscriber: its patterns, its bounded queue of live events, and, while it
 * replays history, a cursor into history instead (live events published during
 * replay are read from history too, so there is no gap and no duplicate).
 */
export class Subscription {
  private readonly queue: SubscriberQueue<EventEnvelope>;
  private replayCursor: number | undefined;
  private replayStarted = false;
  private wake: (() => void) | undefined;
  private closedWith: SubscriberCutOffError | null | undefined;
  private lastDelivered = 0;

  constructor(
    /** Broker-unique id. */
    readonly id: number,
    readonly options: SubscriptionOptions,
    queueCapacity: number,
    private readonly replay: ReplaySource,
  ) {
    this.queue = new SubscriberQueue(queueCapacity);
    this.replayCursor = options.replayFromId;
  }

  /** True while the subscription reads history rather than its queue. */
  get replaying(): boolean {
    return this.replayCursor !== undefined;
  }

  /** True once ended, by either side. */
  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  /** Live events waiting. */
  get queued(): number {
    return this.queue.size;
  }

  /** True when `topic` matches one of the patterns. */
  matches(topic: string): boolean {
    for (const pattern of this.options.patterns) {
      if (topicMatches(pattern, topic)) return true;
    }
    return false;
  }

  /**
   * Hands over a live event. Answers false when the queue is full: the caller
   * must then cut the subscriber off. While replaying, the event will be read
   * from history, so nothing is queued.
   */
  offer(event: EventEnvelope): boolean {
    if (this.closed) return false;
    if (this.replayCursor !== undefined) return true;
    if (!this.queue.push(event)) return false;
    this.notify();
    return true;
  }

  /**
   * Waits for the next events, in event_id order: at most `max` per step of a
   * replay; from the live queue, everything waiting up to `maxLive` events and
   * `maxLiveBytes` encoded bytes (at least one event), so a subscriber that fell
   * behind catches up in as few writes as its backlog needs. Answers undefined
   * once the reader closed it; throws SubscriberCutOffError when the broker cut
   * it off.
   */
  async next(max: number, maxLive = max, maxLiveBytes = Infinity): Promise<EventEnvelope[] | undefined> {
    for (;;) {
      if (this.closedWith === null) return undefined;
      if (this.closedWith !== undefined) throw this.closedWith;
      if (this.replayCursor !== undefined) {
        const events = this.replayStep(max);
        if (events.length > 0) return this.delivered(events);
        // A long stretch of non-matching history: let other work run between steps.
        if (this.replayCursor !== undefined) await new Promise((resolve) => setImmediate(resolve));
        continue;
      }
      if (this.queue.size > 0) return this.delivered(this.queue.take(maxLive, maxLiveBytes, encodedSize));
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  /** Ends the subscription: normally (`error` undefined) or as a cut-off. Answers how many queued events were dropped. */
  close(error?: SubscriberCutOffError): number {
    if (this.closed) return 0;
    this.closedWith = error ?? null;
    const dropped = this.queue.clear();
    this.notify();
    return dropped;
  }

  /** The cut-off error for an overflow, naming the limit. */
  overflowError(): SubscriberCutOffError {
    return new SubscriberCutOffError(
      `subscriber queue full: ${this.queue.capacity} events waiting (limit subscriberQueueEvents); ` + `resume with from_event_id ${this.lastDelivered + 1}`,
      this.lastDelivered,
    );
  }

  private replayStep(max: number): EventEnvelope[] {
    let cursor = this.replayCursor ?? 0;
    const firstId = this.replay.firstId();
    if (this.replayStarted && firstId > cursor) {
      this.close(
        new SubscriberCutOffError(
          `replay fell behind history eviction: events ${cursor}..${firstId - 1} were evicted before they were read`,
          this.lastDelivered,
        ),
      );
      return [];
    }
    this.replayStarted = true;
    const { events, nextId } = this.replay.read(cursor, max, (topic) => this.matches(topic));
    cursor = Math.max(cursor, nextId);
    // Caught up: everything up to the newest stored event was read in this
    // same turn, so later events arrive through the queue with no gap.
    this.replayCursor = cursor > this.replay.lastId() ? undefined : cursor;
    return events;
  }

  private delivered(events: EventEnvelope[]): EventEnvelope[] {
    this.lastDelivered = Number(events[events.length - 1].eventId);
    return events;
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

/** An event's size on the wire: its remembered encoding, or its payload when it has none. */
function encodedSize(event: EventEnvelope): number {
  return encodingOf(event)?.length ?? event.payload.length;
}
