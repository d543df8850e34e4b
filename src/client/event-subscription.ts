import type { MessageInitShape } from "@bufbuild/protobuf";
import { type Client, Code, ConnectError } from "@connectrpc/connect";
import type { EventEnvelope } from "../../gen/corrbus/v1/envelope_pb.js";
import type { CorrelationService, SubscribeRequestSchema } from "../../gen/corrbus/v1/service_pb.js";
import { readAhead } from "./read-ahead.js";
import { Backoff, isRetryable, sleep } from "./retry-policy.js";

/** Options of a subscription. */
export interface SubscribeOptions {
  /** Share events with other members of this group: each event goes to one of them. */
  queueGroup?: string;
  /** Replay stored events from this event_id before live ones. */
  fromEventId?: bigint;
  /** Ends the subscription when aborted. */
  signal?: AbortSignal;
  /**
   * Survive broker crashes, restarts and cut-offs: when the connection is lost
   * (the broker killed, restarting, shutting down: UNAVAILABLE; a reset or
   * cancelled stream that the caller did not cancel) or the broker cut the
   * subscriber off for lagging (RESOURCE_EXHAUSTED), subscribe again with
   * capped backoff, replaying from the event after the last one seen, so
   * nothing is missed and nothing repeats while the broker's history holds it.
   * A queue-group member re-joins live (groups cannot replay). Errors in the
   * request itself (INVALID_ARGUMENT, PERMISSION_DENIED, …) still end it.
   * Default true.
   */
  reconnect?: boolean;
  /** First wait before re-subscribing; doubles up to `maxReconnectDelayMs`. Default 100 ms. */
  reconnectDelayMs?: number;
  /** Longest wait between attempts. Default 5 s. */
  maxReconnectDelayMs?: number;
  /**
   * Failed attempts in a row (no subscription confirmed in between) before the
   * subscription gives up with the last error. Default unbounded: the wait
   * between attempts is capped at `maxReconnectDelayMs` instead.
   */
  maxReconnectAttempts?: number;
  /** Told about each re-subscription attempt (1, 2, … in a row) and why. */
  onReconnect?: (attempt: number, reason: ConnectError) => void;
  /**
   * Told each time the broker cut this subscriber off for lagging (its queue
   * of undelivered events overflowed: RESOURCE_EXHAUSTED, GetStats'
   * subscribers_cut_off), before it subscribes again and replays. A consumer
   * cut off again and again is too slow for its topics: the replay hides the
   * loss, this says it happened. `cutOffs` counts them so far (1, 2, …).
   */
  onCutOff?: (reason: ConnectError, cutOffs: number) => void;
}

/**
 * A live subscription: await `ready` before relying on delivery, iterate for
 * events. It reads up to 1 MiB of events ahead of the caller, so a lost
 * broker is noticed (and `onReconnect` told) while the caller is still busy
 * with earlier events; a caller further behind than that notices when it
 * catches up. Nothing read ahead is lost across a reconnect.
 */
export interface EventSubscription extends AsyncIterable<EventEnvelope> {
  /** Resolves with the broker's newest event_id once the subscription is first registered. */
  readonly ready: Promise<bigint>;
  /** Times it subscribed again after losing the broker or being cut off (all attempts, failed ones included). */
  readonly reconnects: number;
  /** Times the broker cut it off for lagging (see SubscribeOptions.onCutOff). */
  readonly cutOffs: number;
  /** Ends the subscription. */
  close(): void;
}

/** How much a subscription reads ahead of its caller: events' payloads plus a nominal size for the rest of each. */
const readAheadBytes = 1024 * 1024;
const eventOverheadBytes = 256;

function batchWeight(events: EventEnvelope[]): number {
  let bytes = 0;
  for (const event of events) bytes += event.payload.length + eventOverheadBytes;
  return bytes;
}

/** Opens a subscription through the typed client; see SubscribeOptions for reconnects. */
export function openSubscription(
  service: Client<typeof CorrelationService>,
  subscriberName: string,
  patterns: string[],
  options: SubscribeOptions,
): EventSubscription {
  const abort = new AbortController();
  options.signal?.addEventListener("abort", () => abort.abort(), { once: true });
  const reconnect = options.reconnect ?? true;
  const backoff = new Backoff({ firstDelayMs: options.reconnectDelayMs, maxDelayMs: options.maxReconnectDelayMs, maxAttempts: options.maxReconnectAttempts });
  let reconnects = 0;
  let cutOffs = 0;
  let markReady: (head: bigint) => void = () => {};
  let failReady: (error: unknown) => void = () => {};
  const ready = new Promise<bigint>((resolve, reject) => {
    markReady = resolve;
    failReady = reject;
  });
  ready.catch(() => {}); // Iteration reports the same error.

  const request = (from: bigint | undefined): MessageInitShape<typeof SubscribeRequestSchema> => ({
    patterns,
    queueGroup: options.queueGroup ?? "",
    subscriberName,
    subscriberProcessId: process.pid,
    start: from === undefined ? { case: undefined } : { case: "fromEventId", value: from },
  });

  // The broker's answers, one batch of events each, as they arrive.
  async function* batches(): AsyncGenerator<EventEnvelope[]> {
    // The newest event this subscriber has (or had no need to see): resume after it.
    let seen: bigint | undefined = options.fromEventId === undefined ? undefined : options.fromEventId - 1n;
    let from = options.fromEventId;
    try {
      for (;;) {
        let failure: ConnectError;
        let registered = false;
        try {
          for await (const response of service.subscribe(request(from), { signal: abort.signal })) {
            if (response.subscribed) {
              registered = true;
              markReady(response.headEventId);
              seen ??= response.headEventId;
              backoff.reset();
              continue;
            }
            const events = response.events;
            if (events.length === 0) continue;
            seen = events[events.length - 1].eventId;
            yield events;
          }
          failure = new ConnectError("subscription ended by the broker", Code.Unavailable);
        } catch (error) {
          failure = ConnectError.from(error);
        }
        if (abort.signal.aborted) return;
        // Once registered, RESOURCE_EXHAUSTED is the broker cutting this subscriber off for lagging.
        if (registered && failure.code === Code.ResourceExhausted) options.onCutOff?.(failure, ++cutOffs);
        // CANCELED here is not the caller's (that aborted above): the stream was reset under us.
        if (!reconnect || !isRetryable(failure)) throw failure;
        const delayMs = backoff.nextDelayMs();
        if (delayMs === undefined) throw failure;
        reconnects++;
        options.onReconnect?.(backoff.attempts, failure);
        await sleep(delayMs, abort.signal);
        if (abort.signal.aborted) return;
        from = options.queueGroup || seen === undefined ? undefined : seen + 1n;
      }
    } catch (error) {
      failReady(error);
      throw error;
    } finally {
      failReady(new Error("subscription ended before it was registered"));
    }
  }

  // Read ahead of the caller, to a bound: a lost broker is noticed (and
  // reconnecting starts) while the caller still works on earlier events.
  const source = readAhead(batches(), readAheadBytes, batchWeight);
  let batch: EventEnvelope[] = [];
  let next = 0;
  return {
    ready,
    get reconnects() {
      return reconnects;
    },
    get cutOffs() {
      return cutOffs;
    },
    close: () => abort.abort(),
    [Symbol.asyncIterator]() {
      return {
        next: async (): Promise<IteratorResult<EventEnvelope, undefined>> => {
          while (next === batch.length) {
            const result = await source.next();
            if (result.done) return result;
            batch = result.value;
            next = 0;
          }
          return { done: false, value: batch[next++] };
        },
        return: async () => {
          abort.abort();
          return { done: true, value: undefined };
        },
      };
    },
  };
}
