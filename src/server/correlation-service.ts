import { setImmediate as nextTurn } from "node:timers/promises";
import { create } from "@bufbuild/protobuf";
import { type Duration, type Timestamp, timestampDate, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import type { EventEnvelope } from "../../gen/corrbus/v1/envelope_pb.js";
import {
  CompletionReason,
  type CorrelationService,
  FindByTagResponseSchema,
  GetStatsResponseSchema,
  GetTimelineResponseSchema,
  GetWorkflowResponseSchema,
  PublishResponseSchema,
  PublishStreamResponseSchema,
  SubscribeResponseSchema,
  WaitForResultsResponseSchema,
} from "../../gen/corrbus/v1/service_pb.js";
import type { CorrelationBroker } from "../core/correlation-broker.js";
import type { PublishResult } from "../core/broker-ports.js";
import type { Journal } from "../storage/index.js";
import type { ConnectionStats } from "./connection-gate.js";
import type { FleetStats } from "./fleet-stats.js";
import { InvalidInputError } from "../core/validation/invalid-input-error.js";
import { eventIdFrom, maxEventId } from "../core/validation/event-id-range.js";
import type { WaitReason } from "../core/tracking/result-waiter.js";
import { peerIdentityKey } from "./peer-identity.js";
import { toConnectError } from "./service-errors.js";
import { unlessAborted } from "./unless-aborted.js";
import { AckPipeline } from "./ack-pipeline.js";
import { IngestBudget } from "./ingest-budget.js";
import { answersInBinary, setLiveEvents, setStoredEvents, streamsStoredEvents } from "./event-fields.js";
import { toWorkflowState } from "./workflow-message.js";

/** Batches of one PublishStream waiting for the journal at once. */
const streamPipelineDepth = 16;
/** Estimated bytes all PublishStreams together accept per event-loop turn (see IngestBudget). */
const streamIngestBytesPerTurn = 128 * 1024;
/** Most events in one SubscribeResponse read from history (one replay step). */
const subscribeBatch = 128;
/**
 * Most events, and encoded bytes, in one SubscribeResponse from a subscriber's
 * live queue. The handler writes one message per drain of its stream, about one
 * per event-loop turn, while PublishStream takes a batch (up to 1000 events)
 * per stream per turn: a fixed 128 let one publisher outrun an idle subscriber
 * until it was cut off. A subscriber that lags gets its backlog in one message
 * instead; 1 MiB stays well under gRPC clients' default 4 MiB message limit.
 */
const liveBatchEvents = 16_384;
const liveBatchBytes = 1024 * 1024;
/** Answer a wait this long before the RPC deadline, so the answer beats the deadline. */
const deadlineMarginMs = 20;

const reasonCodes: Record<WaitReason, CompletionReason> = {
  expected_results: CompletionReason.EXPECTED_RESULTS,
  expected_sources: CompletionReason.EXPECTED_SOURCES,
  all_recipients_answered: CompletionReason.ALL_RECIPIENTS_ANSWERED,
  deadline: CompletionReason.DEADLINE,
  recipient_disconnected: CompletionReason.RECIPIENT_DISCONNECTED,
  no_recipients: CompletionReason.NO_RECIPIENTS,
};

/**
 * The CorrelationService handlers: each turns a wire request into one call of
 * the domain core and its answer back into a wire response. No domain logic
 * lives here.
 */
export function createCorrelationService(
  broker: CorrelationBroker,
  journal?: Journal,
  connections: () => ConnectionStats = () => ({ open: 0, accepted: 0, refused: 0, silentClosed: 0 }),
  fleet: FleetStats = () => ({}),
): ServiceImpl<typeof CorrelationService> {
  const ingest = new IngestBudget(streamIngestBytesPerTurn);
  return {
    async publish(request, context) {
      try {
        if (request.envelope === undefined) throw new InvalidInputError("envelope", "is required");
        const [result] = await broker.submit([request.envelope], context.values.get(peerIdentityKey), false);
        return create(PublishResponseSchema, {
          eventId: BigInt(result.eventId),
          deliveredCount: result.deliveredCount,
          receivedAt: timestampFromMs(result.receivedAtMs),
        });
      } catch (error) {
        throw toConnectError(error);
      }
    },

    async *publishStream(requests, context) {
      const peer = context.values.get(peerIdentityKey);
      // Batches are checked and stamped in order as they arrive while earlier
      // ones wait for the journal, so one stream keeps several batches in one
      // write (and, with --fsync always, one fsync); acks still go out in order.
      const pipeline = new AckPipeline<PublishResult[]>(streamPipelineDepth);
      const reading = (async () => {
        const incoming = requests[Symbol.asyncIterator]();
        try {
          for (;;) {
            // Shutdown (or the client going) stops the reading at once; batches taken before still get their acks.
            const next = await unlessAborted(incoming.next(), context.signal);
            if (next.done) break;
            const request = next.value;
            // Awaited only when they must wait: each await would delay every ack.
            const room = pipeline.room();
            if (room !== undefined) await room;
            const admitted = ingest.admit(request.envelopes);
            if (admitted !== undefined) await admitted;
            pipeline.push(broker.submit(request.envelopes, peer, true));
          }
          pipeline.end();
        } catch (error) {
          // A refused batch (or the stop): nothing after it is read, earlier ones still get their acks.
          pipeline.fail(error);
          void incoming.return?.().catch(() => {});
        }
      })();
      let batchSequence = 0n;
      try {
        for await (const results of pipeline) {
          batchSequence++;
          yield create(PublishStreamResponseSchema, {
            eventIds: results.map((result) => BigInt(result.eventId)),
            deliveredCounts: results.map((result) => result.deliveredCount),
            batchSequence,
            receivedAt: results.map((result) => timestampFromMs(result.receivedAtMs)),
          });
          // Buffered batches would otherwise be consumed in one microtask chain,
          // starving subscriber writes (I/O callbacks) until their queues overflow.
          await nextTurn();
        }
      } catch (error) {
        throw toConnectError(error);
      } finally {
        pipeline.close();
        await reading;
      }
    },

    async *subscribe(request, context) {
      const binary = answersInBinary(context);
      const subscription = guard(() =>
        broker.subscribe(
          {
            patterns: request.patterns,
            queueGroup: request.queueGroup,
            name: request.subscriberName,
            statedPid: request.subscriberProcessId,
            fromEventId: request.start.case === "fromEventId" ? eventIdFrom(request.start.value, "from_event_id") : undefined,
            fromTimeMs: request.start.case === "fromTime" ? timestampDate(request.start.value).getTime() : undefined,
            // The binary wire sends replayed events' bytes as they are: no need to decode them.
            encodedOnly: binary,
          },
          context.values.get(peerIdentityKey),
        ),
      );
      const onAbort = () => broker.unsubscribe(subscription);
      context.signal.addEventListener("abort", onAbort, { once: true });
      // Aborted before the handler ran (deadline passed, client gone while the
      // body arrived): no abort event will come, and next() would wait forever.
      if (context.signal.aborted) onAbort();
      try {
        yield create(SubscribeResponseSchema, { subscribed: true, headEventId: BigInt(broker.headEventId) });
        for (;;) {
          const events = await subscription.next(subscribeBatch, liveBatchEvents, liveBatchBytes);
          if (events === undefined) {
            // Shutdown aborts with UNAVAILABLE so clients know to reconnect; a client's own abort ends quietly.
            if (context.signal.reason instanceof ConnectError) throw context.signal.reason;
            return;
          }
          yield binary ? setLiveEvents(create(SubscribeResponseSchema), 1, events) : create(SubscribeResponseSchema, { events });
        }
      } catch (error) {
        throw toConnectError(error);
      } finally {
        context.signal.removeEventListener("abort", onAbort);
        broker.unsubscribe(subscription);
      }
    },

    async waitForResults(request, context) {
      try {
        const timeoutMs = waitTimeout(request.timeout, broker.limits.defaultWaitMs, context);
        const outcome = await broker.waitForResults(
          {
            correlationId: request.correlationId,
            expectedResults: request.expectedResults,
            expectedSources: request.expectedSources,
            topicPattern: request.topicPattern,
          },
          timeoutMs,
          context.signal,
        );
        // Cut short by the broker shutting down (UNAVAILABLE: retry later) or the call ending: say so, not "incomplete".
        if (context.signal.aborted && context.signal.reason instanceof ConnectError) throw context.signal.reason;
        const binary = answersInBinary(context);
        const answer = create(WaitForResultsResponseSchema, {
          complete: outcome.complete,
          reason: reasonCodes[outcome.reason],
          events: binary ? [] : loadEvents(broker, outcome.resultIds, request.omitPayloads),
          pendingSources: outcome.pendingSources,
          disconnectedSources: outcome.disconnectedSources,
          truncated: outcome.truncated,
        });
        return binary ? setStoredEvents(answer, 3, broker, outcome.resultIds, request.omitPayloads, streamsStoredEvents(context)) : answer;
      } catch (error) {
        throw toConnectError(error);
      }
    },

    findByTag(request, context) {
      return guard(() => {
        const page = broker.findByTag({
          tags: request.tags,
          topicPattern: request.topicPattern,
          hostId: request.hostId,
          sinceMs: optionalMs(request.since),
          untilMs: optionalMs(request.until),
          limit: request.limit,
          cursor: decodePageToken(request.pageToken),
          oldestFirst: request.oldestFirst,
        });
        const binary = answersInBinary(context);
        const answer = create(FindByTagResponseSchema, {
          events: binary ? [] : loadEvents(broker, page.ids, request.omitPayloads),
          nextPageToken: page.nextCursor === 0 ? "" : encodePageToken(page.nextCursor),
        });
        return binary ? setStoredEvents(answer, 1, broker, page.ids, request.omitPayloads, streamsStoredEvents(context)) : answer;
      });
    },

    getTimeline(request, context) {
      return guard(() => {
        const timeline = broker.timeline(request.rootCorrelationId, eventIdFrom(request.afterEventId, "after_event_id"), request.limit);
        const binary = answersInBinary(context);
        const answer = create(GetTimelineResponseSchema, {
          events: binary ? [] : loadEvents(broker, timeline.ids, request.omitPayloads),
          correlations: timeline.correlations.map(toWorkflowState),
          truncated: timeline.truncated,
        });
        return binary ? setStoredEvents(answer, 1, broker, timeline.ids, request.omitPayloads, streamsStoredEvents(context)) : answer;
      });
    },

    getWorkflow(request) {
      return guard(() => create(GetWorkflowResponseSchema, { workflow: toWorkflowState(broker.workflow(request.correlationId)) }));
    },

    getStats() {
      const stats = broker.stats();
      const memory = process.memoryUsage();
      const journalStats = journal?.stats();
      return create(GetStatsResponseSchema, {
        hostId: broker.hostId,
        ...fleet(),
        memoryRssBytes: BigInt(memory.rss),
        memoryHeapUsedBytes: BigInt(memory.heapUsed),
        memoryExternalBytes: BigInt(memory.external),
        eventsRestored: BigInt(stats.eventsRestored),
        eventsExpired: BigInt(stats.eventsExpired),
        permissionDenied: BigInt(stats.permissionDenied),
        connectionsOpen: connections().open,
        connectionsAccepted: BigInt(connections().accepted),
        connectionsRefused: BigInt(connections().refused),
        connectionsSilentClosed: BigInt(connections().silentClosed),
        tagIndexKeys: BigInt(stats.indexes.tags),
        correlationIndexKeys: BigInt(stats.indexes.correlations),
        rootIndexKeys: BigInt(stats.indexes.roots),
        metadataTemplates: BigInt(stats.indexes.templates),
        memoryLimitBytes: BigInt(stats.memory.limitBytes),
        memoryHistoryBytes: BigInt(stats.memory.historyBytes),
        memoryWorkflowBytes: BigInt(stats.memory.workflowBytes),
        eventsEvictedForMemory: BigInt(stats.memory.eventsEvicted),
        workflowsEvictedForMemory: BigInt(stats.memory.workflowsEvicted),
        journal:
          journalStats === undefined
            ? undefined
            : {
                fsyncPolicy: journalStats.fsyncPolicy,
                directory: journalStats.directory,
                segments: journalStats.segments,
                bytes: BigInt(journalStats.bytes),
                recordsAppended: BigInt(journalStats.recordsAppended),
                writes: BigInt(journalStats.writes),
                fsyncs: BigInt(journalStats.fsyncs),
                segmentsDeleted: BigInt(journalStats.segmentsDeleted),
                recordsReplayed: BigInt(journalStats.recordsReplayed),
                problems: BigInt(journalStats.problems),
                backlogRefused: BigInt(journalStats.backlogRefused),
                writeFailures: BigInt(journalStats.writeFailures),
                recoveries: BigInt(journalStats.recoveries),
              },
        eventsPublished: BigInt(stats.eventsPublished),
        eventsStored: BigInt(stats.eventsStored),
        bytesStored: BigInt(stats.bytesStored),
        eventsEvicted: BigInt(stats.eventsEvicted),
        historyMaxEvents: BigInt(stats.historyMaxEvents),
        historyMaxBytes: BigInt(stats.historyMaxBytes),
        eventsDelivered: BigInt(stats.eventsDelivered),
        subscribers: stats.subscribers,
        subscribersCutOff: BigInt(stats.subscribersCutOff),
        eventsDropped: BigInt(stats.eventsDropped),
        publishesRejected: BigInt(stats.publishesRejected),
        workflowsActive: BigInt(stats.workflowsActive),
        workflowsExpired: BigInt(stats.workflowsExpired),
        workflowsEvicted: BigInt(stats.workflowsEvicted),
        lineageRejected: BigInt(stats.lineageRejected),
        orphans: BigInt(stats.orphans),
        waiters: stats.waiters,
        lastEventId: BigInt(stats.lastEventId),
        startedAt: timestampFromMs(stats.startedAtMs),
      });
    },
  };
}

function guard<T>(run: () => T): T {
  try {
    return run();
  } catch (error) {
    throw toConnectError(error);
  }
}

function loadEvents(broker: CorrelationBroker, ids: readonly number[], omitPayloads: boolean): EventEnvelope[] {
  const events: EventEnvelope[] = [];
  for (const id of ids) {
    const event = broker.event(id);
    if (event === undefined) continue;
    if (omitPayloads) event.payload = new Uint8Array(0);
    events.push(event);
  }
  return events;
}

function optionalMs(timestamp: Timestamp | undefined): number | undefined {
  return timestamp === undefined ? undefined : timestampDate(timestamp).getTime();
}

function waitTimeout(timeout: Duration | undefined, fallbackMs: number, context: HandlerContext): number {
  let ms = fallbackMs;
  if (timeout !== undefined) {
    ms = Number(timeout.seconds) * 1000 + Math.floor(timeout.nanos / 1e6);
    if (ms < 0 || timeout.nanos < 0) throw new InvalidInputError("timeout", "must not be negative");
  }
  const deadline = context.timeoutMs();
  if (deadline !== undefined) ms = Math.min(ms, Math.max(0, deadline - deadlineMarginMs));
  return ms;
}

/** Page tokens are opaque to clients: the last event id served, base64url. */
function encodePageToken(cursor: number): string {
  return Buffer.from(`v1:${cursor}`).toString("base64url");
}

function decodePageToken(token: string): number {
  if (token === "") return 0;
  const match = /^v1:(\d{1,16})$/.exec(Buffer.from(token, "base64url").toString());
  // Sixteen digits reach past the largest event id: such a cursor was never issued (and would round).
  if (match === null || BigInt(match[1]) > BigInt(maxEventId)) throw new InvalidInputError("page_token", "is not a token this broker issued");
  return Number(match[1]);
}
