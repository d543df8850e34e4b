import { Code, ConnectError } from "@connectrpc/connect";
import type { EventEnvelope } from "../../gen/corrbus/v1/envelope_pb.js";
import type { PublishResponse } from "../../gen/corrbus/v1/service_pb.js";
import type { CorrelationClient, Payload, PublishOptions } from "./correlation-client.js";
import { Backoff, type RetryOptions, isRetryable } from "./retry-policy.js";

/** Options of publishOnce beyond those of publish. */
export interface PublishOnceOptions extends PublishOptions {
  /** The backoff between attempts while the broker is away. Default: 100 ms doubling to 5 s, unbounded attempts. */
  retry?: RetryOptions;
  /** Ends the retries (the last error is thrown). */
  signal?: AbortSignal;
  /** Told about each attempt that failed and will be retried. */
  onRetry?: (attempt: number, reason: ConnectError) => void;
}

/** What publishOnce did. */
export interface PublishOnceResult {
  /** The broker's answer when this call stored the event; undefined when an earlier attempt had stored it. */
  response: PublishResponse | undefined;
  /** True when an attempt's answer was lost with the connection and the broker turned out to hold the event already. */
  alreadyStored: boolean;
  /** Failed attempts before the outcome. */
  retries: number;
}

/**
 * Publishes a correlated event exactly once across broker crashes and
 * restarts — a collector's answer, typically.
 *
 * A publish whose connection is lost (the broker killed, restarting) has an
 * unknown outcome: the broker may have stored the event and died before
 * answering. Publishing it again would store it twice (a second answer, a
 * second final event). So the event is numbered once (its correlation, its
 * source_process, the client's next sequence_number), and after a lost
 * attempt, once the broker answers again, GetWorkflow tells whether this
 * publisher's highest sequence_number in that correlation already covers it:
 * then nothing is sent again. The journal keeps accepted events across a
 * crash and start-up rebuilds participants from it, so the check sees what
 * the crash left.
 *
 * The key is (correlation_id, source_process, sequence_number): it holds while
 * one process publishes under a source_process name and numbers its events
 * with this client (a restarted collector numbers from 1 again and must use a
 * new correlation or name). If the broker no longer tracks the correlation
 * (NOT_FOUND: idle longer than --workflow-idle, or evicted), the event is
 * sent again — at-least-once in that corner.
 *
 * Errors in the request (INVALID_ARGUMENT, PERMISSION_DENIED, …) are thrown
 * at once, unchanged.
 */
export async function publishOnce(client: CorrelationClient, topic: string, payload: Payload, options: PublishOnceOptions): Promise<PublishOnceResult> {
  if (options.correlation === undefined) {
    throw new ConnectError(
      "publishOnce: options.correlation is required: the event is recognised by its correlation and sequence number",
      Code.InvalidArgument,
    );
  }
  const envelope = client.envelope(topic, payload, options);
  return publishEnvelopeOnce(client, envelope, options);
}

/** publishOnce for an envelope already numbered (client.envelope with a correlation). */
export async function publishEnvelopeOnce(
  client: CorrelationClient,
  envelope: EventEnvelope,
  options: Pick<PublishOnceOptions, "retry" | "signal" | "onRetry"> = {},
): Promise<PublishOnceResult> {
  const meta = envelope.correlationMetadata;
  if (meta === undefined || meta.sequenceNumber === 0n || meta.sourceProcess === "") {
    throw new ConnectError("publishOnce: the envelope needs correlation metadata with a sequence_number and a source_process", Code.InvalidArgument);
  }
  const backoff = new Backoff(options.retry);
  const giveUpOr = async (error: ConnectError): Promise<void> => {
    if (!isRetryable(error) || error.code === Code.Canceled || error.code === Code.ResourceExhausted) throw error;
    options.onRetry?.(backoff.attempts + 1, error);
    if (!(await backoff.retry(options.signal))) throw error;
  };
  for (;;) {
    try {
      const response = await client.service.publish({ envelope }, { signal: options.signal });
      return { response, alreadyStored: false, retries: backoff.attempts };
    } catch (error) {
      await giveUpOr(ConnectError.from(error));
    }
    // The outcome is unknown: ask the broker (as soon as it answers) whether it has the event.
    for (;;) {
      try {
        const { workflow } = await client.service.getWorkflow({ correlationId: meta.correlationId }, { signal: options.signal });
        const mine = workflow?.participants.find((participant) => participant.sourceProcess === meta.sourceProcess);
        if (mine !== undefined && mine.lastSequenceNumber >= meta.sequenceNumber)
          return { response: undefined, alreadyStored: true, retries: backoff.attempts };
        break;
      } catch (error) {
        const connectError = ConnectError.from(error);
        if (connectError.code === Code.NotFound) break;
        await giveUpOr(connectError);
      }
    }
  }
}
