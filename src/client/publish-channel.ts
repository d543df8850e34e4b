import type { Client } from "@connectrpc/connect";
import { ConnectError } from "@connectrpc/connect";
import type { CorrelationService, PublishStreamRequest, PublishStreamResponse } from "../../gen/corrbus/v1/service_pb.js";

/**
 * One PublishStream call as a stream publisher drives it: batches go out with
 * send(), acks and the end come back as callbacks. The lean path implements
 * it straight on the HTTP/2 stream (lean-publish-channel.ts); any other
 * transport through the generated client's async iterables
 * (iterablePublishChannel).
 */
export interface PublishChannel {
  /** Sends one batch, after those sent before. */
  send(request: PublishStreamRequest): void;
  /** Ends the request side; the acks of batches sent still come. */
  end(): void;
  /** Ends the call at once with `error`, which `end` reports. */
  fail(error: ConnectError): void;
}

/** What a channel reports: each ack in order, then its end once (undefined: the broker ended the call cleanly). */
export interface PublishChannelEvents {
  ack(ack: PublishStreamResponse): void;
  end(error: ConnectError | undefined): void;
}

/** Opens a new PublishStream call. */
export type OpenPublishChannel = (events: PublishChannelEvents) => PublishChannel;

type PublishStream = Client<typeof CorrelationService>["publishStream"];

/** PublishStream calls through a client's `publishStream` (gRPC, the stock Connect client). */
export function iterablePublishChannel(publishStream: PublishStream): OpenPublishChannel {
  return (events) => {
    const requests = new RequestQueue();
    const abort = new AbortController();
    let failure: ConnectError | undefined;
    void (async () => {
      let error: ConnectError | undefined;
      try {
        for await (const ack of publishStream(requests, { signal: abort.signal })) {
          if (failure !== undefined) break;
          events.ack(ack);
        }
      } catch (caught) {
        error = ConnectError.from(caught);
      }
      requests.end();
      events.end(failure ?? error);
    })();
    return {
      send: (request) => requests.push(request),
      end: () => requests.end(),
      fail: (error) => {
        failure ??= error;
        abort.abort(error);
      },
    };
  };
}

/** The requests of one PublishStream call: batches pushed as they are made, ended by end(). */
class RequestQueue implements AsyncIterable<PublishStreamRequest> {
  private readonly batches: PublishStreamRequest[] = [];
  private ended = false;
  private wake: (() => void) | undefined;

  push(batch: PublishStreamRequest): void {
    this.batches.push(batch);
    this.notify();
  }

  end(): void {
    this.ended = true;
    this.notify();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<PublishStreamRequest> {
    for (;;) {
      const batch = this.batches.shift();
      if (batch !== undefined) {
        yield batch;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
