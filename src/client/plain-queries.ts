import type { MessageInitShape } from "@bufbuild/protobuf";
import { type CallOptions, type Client, Code, ConnectError } from "@connectrpc/connect";
import type { Http2SessionManager } from "@connectrpc/connect-node";
import type { EventEnvelope } from "../../gen/corrbus/v1/envelope_pb.js";
import type { WorkflowState } from "../../gen/corrbus/v1/workflow_pb.js";
import {
  CorrelationService,
  type FindByTagRequestSchema,
  type FindByTagResponse,
  FindByTagResponseSchema,
  type GetTimelineResponse,
  GetTimelineResponseSchema,
} from "../../gen/corrbus/v1/service_pb.js";
import { type PlainMessage, messageDecoder, plainMessage } from "../wire/message-decoder.js";
import { createLeanUnary } from "./lean-unary.js";

/**
 * An event as the plain queries answer it: the EventEnvelope's fields, with
 * its 64-bit integers (event_id, sequence_number, timestamps' seconds) as
 * numbers. They are exact: a value past 2^53 (no broker-assigned id or time
 * gets there; a publisher's own sequence_number might) fails the query with a
 * RangeError naming the field, and `bus.service` answers it as a bigint.
 */
export type PlainEvent = PlainMessage<EventEnvelope>;

/** A correlation's state in a timeline, its counters and times as numbers. */
export type PlainWorkflow = PlainMessage<WorkflowState>;

/** One page of FindByTag: the events, newest first (oldest first with `oldestFirst`), and the token of the next page ("" at the end). */
export type TagQueryPage = PlainMessage<FindByTagResponse>;

/** A workflow's timeline: its events in event_id order, the state of every correlation in it, and whether `limit` cut it short. */
export type TimelinePage = PlainMessage<GetTimelineResponse>;

/** What FindByTag takes: tags (all must match), topic pattern, time range, limit, page token, order, omitPayloads. */
export type TagQuery = Omit<MessageInitShape<typeof FindByTagRequestSchema>, "$typeName">;

/** What GetTimeline takes. */
export interface TimelineQuery {
  /** The workflow's root correlation id. */
  rootCorrelationId: string;
  /** Most events answered. Default (0): the broker's limit. */
  limit?: number;
  /** Only events after this one: the last event_id of the page before. Default: from the first. */
  afterEventId?: number | bigint;
  /** Events without their payloads (the broker leaves the bytes out). Default false. */
  omitPayloads?: boolean;
}

/** The plain queries of a client: FindByTag and GetTimeline answered with numbers instead of bigints. */
export interface PlainQueries {
  findByTag(query: TagQuery, options?: CallOptions): Promise<TagQueryPage>;
  timeline(query: TimelineQuery, options?: CallOptions): Promise<TimelinePage>;
}

/**
 * The plain queries over `service`. With a session manager (the lean paths),
 * answers are decoded straight into the plain form by the compiled decoder:
 * no bigint is made only to be turned into a number. Otherwise (gRPC, lean
 * paths off) they take the typed client and are converted.
 */
export function createPlainQueries(
  service: Client<typeof CorrelationService>,
  lean: { sessionManager: Http2SessionManager; socketPath: string } | undefined,
): PlainQueries {
  const stockFind = async (request: TagQuery, options?: CallOptions) => plainMessage(FindByTagResponseSchema, await service.findByTag(request, options));
  const stockTimeline = async (request: MessageInitShape<typeof CorrelationService.method.getTimeline.input>, options?: CallOptions) =>
    plainMessage(GetTimelineResponseSchema, await service.getTimeline(request, options));
  const find =
    lean === undefined
      ? stockFind
      : createLeanUnary(
          lean.sessionManager,
          lean.socketPath,
          CorrelationService.method.findByTag,
          stockFind,
          undefined,
          messageDecoder(FindByTagResponseSchema, "number"),
        );
  const timeline =
    lean === undefined
      ? stockTimeline
      : createLeanUnary(
          lean.sessionManager,
          lean.socketPath,
          CorrelationService.method.getTimeline,
          stockTimeline,
          undefined,
          messageDecoder(GetTimelineResponseSchema, "number"),
        );
  return {
    findByTag: (query, options) => find(query, options),
    timeline: async (query, options) =>
      timeline(
        {
          rootCorrelationId: query.rootCorrelationId,
          limit: query.limit ?? 0,
          afterEventId: eventIdOf(query.afterEventId),
          omitPayloads: query.omitPayloads ?? false,
        },
        options,
      ),
  };
}

/** `afterEventId` as the request's uint64: a whole number from 0, else INVALID_ARGUMENT before anything is sent. */
function eventIdOf(value: number | bigint | undefined): bigint {
  if (value === undefined) return 0n;
  if (typeof value === "bigint" ? value >= 0n && value < 2n ** 64n : Number.isSafeInteger(value) && value >= 0) return BigInt(value);
  throw new ConnectError(`after_event_id: ${value} is not an event id (a whole number from 0 to 2^64-1)`, Code.InvalidArgument);
}
