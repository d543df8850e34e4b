import type { MessageInitShape } from "@bufbuild/protobuf";
import { type Client, Code, ConnectError } from "@connectrpc/connect";
import type { EventEnvelope } from "../../gen/corrbus/v1/envelope_pb.js";
import type { CorrelationService, SubscribeRequestSchema } from "../../gen/corrbus/v1/service_pb.js";

/** Options of a subscription. */
export interface SubscribeOptions {
  /** Share events with other members of this group: each event goes to one of them. */
  queueGroup?: string;
  /** Replay stored events from this event_id before live ones. */
  fromEventId?: bigint;
  /** Ends the subscription when aborted. */
  signal?: AbortSignal;
  /**
   * Survive broker restarts and cut-offs: on UNAVAILABLE (broker gone or
   * restarting), a reset stream or RESOURCE_EXHAUSTED (cut off for lagging),
   * subscribe again with backoff, replaying from the event after the last one
   * seen, so nothing is missed and nothing repeats while the broker's history
   * holds it. A queue-group member re-joins live (groups cannot replay).
   * Errors in the request itself (INVALID_ARGUMENT, …) still end it.
   * Default true.
   */
  reconnect?: boolean;
  /** First wait before re-subscribing; doubles up to `maxReconnectDelayMs`. Default 100 ms. */
  reconnectDelayMs?: number;
  /** Longest wait between attempts. Default 5 s. */
  maxReconnectDelayMs?: number;
  /** Told about each re-subscription attempt and why. */
  onReconnect?: (attempt: number, reason: ConnectError) => void;
}

/** A live subscription: await `ready` before relying on delivery, iterate for events. */
export interface EventSubscription extends AsyncIterable<EventEnvelope> {
  /** Resolves with the broker's newest event_id once the subscription is first registered. */
  readonly ready: Promise<bigint>;
  /** Ends the subscription. */
  close(): void;
}

/** Errors after which subscribing again can succeed. */
const retryable = new Set([Code.Unavailable, Code.Internal, Code.Unknown, Code.ResourceExhausted, Code.Aborted, Code.DeadlineExceeded]);

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
  const firstDelayMs = options.reconnectDelayMs ?? 100;
  const maxDelayMs = options.maxReconnectDelayMs ?? 5000;
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

  async function* events(): AsyncGenerator<EventEnvelope> {
    // The newest event this subscriber has (or had no need to see): resume after it.
    let seen: bigint | undefined = options.fromEventId === undefined ? undefined : options.fromEventId - 1n;
    let from = options.fromEventId;
    let attempt = 0;
    let delayMs = firstDelayMs;
    try {
      for (;;) {
        let failure: ConnectError;
        try {
          for await (const response of service.subscribe(request(from), { signal: abort.signal })) {
            if (response.subscribed) {
              markReady(response.headEventId);
              seen ??= response.headEventId;
              attempt = 0;
              delayMs = firstDelayMs;
              continue;
            }
            for (const event of response.events) {
              seen = event.eventId;
              yield event;
            }
          }
          failure = new ConnectError("subscription ended by the broker", Code.Unavailable);
        } catch (error) {
          failure = ConnectError.from(error);
        }
        if (abort.signal.aborted) return;
        if (!reconnect || !retryable.has(failure.code)) throw failure;
        attempt++;
        options.onReconnect?.(attempt, failure);
        await sleep(delayMs, abort.signal);
        if (abort.signal.aborted) return;
        delayMs = Math.min(delayMs * 2, maxDelayMs);
        from = options.queueGroup || seen === undefined ? undefined : seen + 1n;
      }
    } catch (error) {
      failReady(error);
      throw error;
    } finally {
      failReady(new Error("subscription ended before it was registered"));
    }
  }

  const iterator = events();
  // Start reading at once so `ready` settles even before the caller iterates.
  const first = iterator.next();
  first.catch(() => {}); // Reported to whoever iterates.
  let firstTaken = false;
  return {
    ready,
    close: () => abort.abort(),
    [Symbol.asyncIterator]() {
      return {
        next: () => {
          if (!firstTaken) {
            firstTaken = true;
            return first;
          }
          return iterator.next();
        },
        return: async () => {
          abort.abort();
          return { done: true, value: undefined };
        },
      };
    },
  };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}
