// The client library's public entry point. The broker itself is "corrbus/server".
export { createCorrelationClient, defaultMaxRequestBytes } from "./client/correlation-client.js";
export type { CorrelationClient, CorrelationClientOptions, Payload, PublishOptions } from "./client/correlation-client.js";
export type { EventSubscription, SubscribeOptions } from "./client/event-subscription.js";
export type { PlainEvent, PlainWorkflow, TagQuery, TagQueryPage, TimelinePage, TimelineQuery } from "./client/plain-queries.js";
export type { PlainMessage } from "./wire/message-decoder.js";
export { publishEnvelopeOnce, publishOnce } from "./client/publish-once.js";
export type { PublishOnceOptions, PublishOnceResult } from "./client/publish-once.js";
export type { PublishAck, StreamPublisher, StreamPublisherOptions } from "./client/stream-publisher.js";
export type { RetryOptions } from "./client/retry-policy.js";
export { answerCorrelation, childCorrelation, newRootCorrelation } from "./client/correlation-helpers.js";
export { SequenceCounter } from "./client/sequence-counter.js";
export { defaultSocketPath } from "./wire/default-socket-path.js";
export { CorrelationService } from "../gen/corrbus/v1/service_pb.js";
export * from "../gen/corrbus/v1/correlation_pb.js";
export * from "../gen/corrbus/v1/envelope_pb.js";
export * from "../gen/corrbus/v1/workflow_pb.js";
export * from "../gen/corrbus/v1/service_pb.js";
