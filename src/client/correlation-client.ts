import { basename } from "node:path";
import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { type CallOptions, type Client, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import type { CorrelationMetadata } from "../../gen/corrbus/v1/correlation_pb.js";
import { type EventEnvelope, EventEnvelopeSchema } from "../../gen/corrbus/v1/envelope_pb.js";
import { CorrelationService, type PublishResponse, PublishResponseSchema } from "../../gen/corrbus/v1/service_pb.js";
import { defaultSocketPath } from "../wire/default-socket-path.js";
import { childCorrelation, newRootCorrelation } from "./correlation-helpers.js";
import { brokerUnreachableInterceptor } from "./broker-unreachable.js";
import { BrokerSessionManager, brokerBaseUrl } from "./broker-session.js";
import { createLeanUnary } from "./lean-unary.js";
import { encodePublishRequest } from "../wire/publish-request-encoder.js";
import { createLeanPublishStream } from "./lean-publish-stream.js";
import { leanPublishChannel } from "./lean-publish-channel.js";
import { iterablePublishChannel } from "./publish-channel.js";
import { createLeanSubscribe } from "./lean-subscribe.js";
import { type EventSubscription, type SubscribeOptions, openSubscription } from "./event-subscription.js";
import { type TagQuery, type TagQueryPage, type TimelinePage, type TimelineQuery, createPlainQueries } from "./plain-queries.js";
import { SequenceCounter } from "./sequence-counter.js";
import { type StreamPublisher, type StreamPublisherOptions, createStreamPublisher } from "./stream-publisher.js";

/** How to reach the broker. */
export interface CorrelationClientOptions {
  /** The broker's socket (or named pipe). Default: the broker's default path (CORRBUS_SOCKET, XDG_RUNTIME_DIR, temp dir). */
  socketPath?: string;
  /** This process's name on its events (source_process) and subscriptions. Default: the script's file name. */
  sourceProcess?: string;
  /** Wire protocol. Default "connect" (binary): the broker serves "grpc" too. */
  protocol?: "connect" | "grpc";
  /**
   * Over Connect, publish, PublishStream, Subscribe, the queries and WaitForResults on
   * the lean paths: the same requests and answers on the wire, written and
   * read straight on the HTTP/2 session. Default true. The lean paths run
   * without connect's interceptors (the client has one, for an unreachable
   * broker, and the lean paths report that the same way), and a call that
   * asks for response headers or trailers, or sends headers or context
   * values, takes the stock client. False: every call through the stock
   * client.
   */
  leanPaths?: boolean;
  /**
   * Largest request message sent (a Publish request, a PublishStream batch).
   * A larger one fails with RESOURCE_EXHAUSTED naming the limit (this one, or
   * the broker's when the lean unary path sends it), and the client stays
   * usable. Default 17 MiB, what a broker with the default --max-payload
   * (1 MiB) reads: the payload limit plus 16 MiB. Raise it for a broker with
   * a larger --max-payload. A gRPC or PublishStream request over the broker's
   * limit costs its connection (the broker resets it with ENHANCE_YOUR_CALM):
   * the client then answers RESOURCE_EXHAUSTED too and opens a new one.
   */
  maxRequestBytes?: number;
  /**
   * `publish()` rides one long-lived PublishStream (a StreamPublisher the
   * client keeps), each call still answered for its own event: an acked
   * publish then costs no HTTP/2 stream of its own, which is most of a unary
   * call's time on the socket. Default true. False: one unary Publish per
   * call. The answers are the same either way; an event the broker refuses
   * is published again alone (unary) to get its own error.
   */
  publishOverStream?: boolean;
}

/** What a broker with the default --max-payload (1 MiB) reads of one request: the payload limit plus 16 MiB. */
export const defaultMaxRequestBytes = 17 * 1024 * 1024;

/** Payloads: bytes as they are, strings as UTF-8, anything else as JSON. */
export type Payload = Uint8Array | string | object;

/** Options of one published event. */
export interface PublishOptions {
  /** Correlation metadata; the client numbers it (sequence_number) and sets `final`. */
  correlation?: CorrelationMetadata;
  /** This publisher's last event for the correlation. */
  final?: boolean;
  /** Media type; default from the payload kind ("application/json" for objects, "text/plain" for strings). */
  contentType?: string;
}

/** A typed client of the broker plus correlation helpers. */
export interface CorrelationClient {
  /** The generated, typed Connect client: every RPC of CorrelationService. */
  readonly service: Client<typeof CorrelationService>;
  /** The source_process this client publishes and subscribes as. */
  readonly sourceProcess: string;
  /** Metadata for a new workflow rooted here. */
  newRootCorrelation(stage: string, tags?: Record<string, string>): CorrelationMetadata;
  /** Metadata for a child step of `parent`. */
  childCorrelation(parent: CorrelationMetadata, stage: string, tags?: Record<string, string>): CorrelationMetadata;
  /** The next sequence number of this client within `correlationId` (1, 2, …). */
  nextSequence(correlationId: string): bigint;
  /** An envelope ready to publish (also for PublishStream batches): numbered, timestamped, pid stated. */
  envelope(topic: string, payload: Payload, options?: PublishOptions): EventEnvelope;
  /**
   * Publishes one event and resolves with the broker's answer. Over the
   * client's shared PublishStream by default (see publishOverStream): calls
   * made in one turn of the event loop go out as one batch.
   */
  publish(topic: string, payload: Payload, options?: PublishOptions): Promise<PublishResponse>;
  /**
   * A publisher over one long-lived PublishStream: each event its own
   * promise of an acknowledgement, the events of one turn in one batch, no
   * round trip per event (see StreamPublisher for what happens on a refusal
   * or a lost connection). Close it when done.
   */
  streamPublisher(options?: StreamPublisherOptions): StreamPublisher;
  /**
   * One page of events carrying every tag of `query.tags` (FindByTag), newest
   * first, as plain objects: 64-bit integers as exact numbers (see PlainEvent).
   * `nextPageToken` asks for the next page; "" after the last.
   */
  findByTag(query: TagQuery, options?: CallOptions): Promise<TagQueryPage>;
  /** A workflow's events in event_id order and the state of each of its correlations (GetTimeline), as plain objects. */
  timeline(query: TimelineQuery, options?: CallOptions): Promise<TimelinePage>;
  /** Subscribes to topic patterns as this client's sourceProcess. */
  subscribe(patterns: string[], options?: SubscribeOptions): EventSubscription;
  /**
   * Closes at once: ends the HTTP/2 session and its socket; calls in flight
   * on it fail with CANCELED (events published and not yet acknowledged may
   * or may not be stored), subscriptions end. A call made afterwards opens a
   * new session. For a collector stopping on SIGTERM, `drain()` is the
   * graceful one.
   */
  close(): void;
  /**
   * Closes gracefully: waits until every event published through `publish`
   * and every stream publisher of this client is acknowledged (or failed),
   * closing those publishers, then closes as `close()` does (subscriptions
   * end). Publishing after
   * it is called still works until the session closes; direct
   * `service.publish` calls are not waited for.
   */
  drain(): Promise<void>;
}

/** Connects to the broker over its Unix socket (or named pipe). The session opens on first use. */
export function createCorrelationClient(options: CorrelationClientOptions = {}): CorrelationClient {
  const socketPath = options.socketPath ?? defaultSocketPath();
  const sourceProcess = options.sourceProcess ?? basename(process.argv[1] ?? "client").replace(/\.[cm]?[jt]s$/, "");
  const sessionManager = new BrokerSessionManager(socketPath);
  const maxRequestBytes = options.maxRequestBytes ?? defaultMaxRequestBytes;
  const transportOptions = {
    baseUrl: brokerBaseUrl,
    httpVersion: "2" as const,
    sessionManager,
    useBinaryFormat: true,
    // Nothing to gain from compression on a local socket; the broker never compresses answers anyway.
    acceptCompression: [],
    interceptors: [brokerUnreachableInterceptor(socketPath)],
    writeMaxBytes: maxRequestBytes,
  };
  const transport = options.protocol === "grpc" ? createGrpcTransport(transportOptions) : createConnectTransport(transportOptions);
  const stock = createClient(CorrelationService, transport);
  // Over Connect, publishing, Subscribe, the queries and WaitForResults take lean paths (same wire format).
  const lean = options.protocol !== "grpc" && options.leanPaths !== false;
  const service: Client<typeof CorrelationService> = !lean
    ? stock
    : {
        ...stock,
        publish: createLeanUnary(sessionManager, socketPath, CorrelationService.method.publish, stock.publish, encodePublishRequest),
        publishStream: createLeanPublishStream(sessionManager, socketPath, stock.publishStream, maxRequestBytes),
        subscribe: createLeanSubscribe(sessionManager, socketPath, stock.subscribe),
        findByTag: createLeanUnary(sessionManager, socketPath, CorrelationService.method.findByTag, stock.findByTag),
        getTimeline: createLeanUnary(sessionManager, socketPath, CorrelationService.method.getTimeline, stock.getTimeline),
        getWorkflow: createLeanUnary(sessionManager, socketPath, CorrelationService.method.getWorkflow, stock.getWorkflow),
        getStats: createLeanUnary(sessionManager, socketPath, CorrelationService.method.getStats, stock.getStats),
        waitForResults: createLeanUnary(sessionManager, socketPath, CorrelationService.method.waitForResults, stock.waitForResults),
      };
  // The client's stream publishers write batches and read acks on the HTTP/2 stream itself on the lean path.
  const openPublishChannel = lean ? leanPublishChannel(sessionManager, socketPath, maxRequestBytes) : iterablePublishChannel(service.publishStream);
  const sequences = new SequenceCounter();
  let sharedPublisher: StreamPublisher | undefined;
  const publishEnvelope =
    options.publishOverStream === false
      ? (event: EventEnvelope) => service.publish({ envelope: event })
      : async (event: EventEnvelope) => {
          sharedPublisher ??= createStreamPublisher(openPublishChannel, service.publish);
          const ack = await sharedPublisher.publish(event);
          return create(PublishResponseSchema, ack);
        };
  const queries = createPlainQueries(service, lean ? { sessionManager, socketPath } : undefined);

  const envelope = (topic: string, payload: Payload, publishOptions: PublishOptions = {}): EventEnvelope => {
    const [bytes, defaultType] = encodePayload(payload);
    let correlationMetadata: CorrelationMetadata | undefined;
    if (publishOptions.correlation !== undefined) {
      const given = publishOptions.correlation;
      // A shallow copy: this event's own sequence number and final flag, the
      // rest (ids, tags) shared with the caller's metadata, never modified.
      correlationMetadata = {
        ...given,
        sequenceNumber: sequences.next(given.correlationId),
        final: publishOptions.final ?? false,
        sourceProcess: given.sourceProcess === "" ? sourceProcess : given.sourceProcess,
      };
    }
    return create(EventEnvelopeSchema, {
      topic,
      payload: bytes,
      contentType: publishOptions.contentType ?? defaultType,
      timestamp: timestampNow(),
      publisherProcessId: process.pid,
      correlationMetadata,
    });
  };

  // What drain() waits for; each set forgets an entry once it is settled or closed.
  const publishing = new Set<Promise<PublishResponse>>();
  const publishers = new Set<StreamPublisher>();
  const publish = (topic: string, payload: Payload, publishOptions?: PublishOptions): Promise<PublishResponse> => {
    const call = publishEnvelope(envelope(topic, payload, publishOptions));
    publishing.add(call);
    const forget = () => publishing.delete(call);
    call.then(forget, forget);
    return call;
  };

  return {
    service,
    sourceProcess,
    newRootCorrelation: (stage, tags) => newRootCorrelation(stage, tags, sourceProcess),
    childCorrelation: (parent, stage, tags) => childCorrelation(parent, stage, tags, sourceProcess),
    nextSequence: (correlationId) => sequences.next(correlationId),
    envelope,
    publish,
    streamPublisher: (publisherOptions) => {
      const publisher = createStreamPublisher(openPublishChannel, service.publish, publisherOptions);
      publishers.add(publisher);
      const close = publisher.close.bind(publisher);
      publisher.close = () => {
        publishers.delete(publisher);
        return close();
      };
      return publisher;
    },
    findByTag: queries.findByTag,
    timeline: queries.timeline,
    subscribe: (patterns, subscribeOptions = {}) => openSubscription(service, sourceProcess, patterns, subscribeOptions),
    close: () => {
      sharedPublisher = undefined;
      sessionManager.abort();
    },
    drain: async () => {
      await Promise.allSettled([...publishing, ...[...publishers].map((publisher) => publisher.close())]);
      sharedPublisher = undefined;
      sessionManager.abort();
    },
  };
}

function encodePayload(payload: Payload): [Uint8Array, string] {
  if (payload instanceof Uint8Array) return [payload, ""];
  if (typeof payload === "string") return [new TextEncoder().encode(payload), "text/plain"];
  return [new TextEncoder().encode(JSON.stringify(payload)), "application/json"];
}
