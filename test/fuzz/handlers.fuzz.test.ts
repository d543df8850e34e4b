// Property-based fuzzing of the CorrelationService handlers, in process: the
// real domain core (CorrelationBroker) behind the real handlers
// (createCorrelationService), called with arbitrary request messages and with
// whatever protobuf-es makes of random and mutated bytes. No mocks.
//
// Property: every call answers with a message the adapter can serialize (as
// binary or JSON, whichever the call's client speaks), or fails with a
// ConnectError whose code says the input was refused (never INTERNAL /
// UNKNOWN, never a raw exception; DEADLINE_EXCEEDED only for a call that had
// a deadline); and afterwards the broker's counters are consistent, every
// wait and subscription has been released, no index keeps an entry for an
// evicted event, and a valid publish still works.
//
// Replay: the seed is printed; FUZZ_SEED=<seed> replays it. FUZZ_RUNS scales
// the number of runs of each property.
import { type DescMessage, type Message, type MessageShape, create, fromBinary, toBinary, toJsonString } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextValues, createHandlerContext } from "@connectrpc/connect";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { type CorrelationMetadata, CorrelationMetadataSchema } from "../../gen/corrbus/v1/correlation_pb.js";
import { type EventEnvelope, EventEnvelopeSchema } from "../../gen/corrbus/v1/envelope_pb.js";
import {
  CorrelationService,
  FindByTagRequestSchema,
  type FindByTagResponse,
  GetStatsRequestSchema,
  GetTimelineRequestSchema,
  GetWorkflowRequestSchema,
  PublishRequestSchema,
  PublishStreamRequestSchema,
  SubscribeRequestSchema,
  WaitForResultsRequestSchema,
} from "../../gen/corrbus/v1/service_pb.js";
import type { BrokerLimits } from "../../src/core/validation/broker-limits.js";
import type { PeerIdentity } from "../../src/core/broker-ports.js";
import { CorrelationBroker } from "../../src/core/correlation-broker.js";
import { createCorrelationService } from "../../src/server/correlation-service.js";
import { peerIdentityKey } from "../../src/server/peer-identity.js";
import { byteMutations } from "./mutations.js";
import { publishBatchNow } from "../core/publish-now.js";

const seed = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : Date.now() ^ (Math.random() * 0x7fffffff);
const runsScale = process.env.FUZZ_RUNS !== undefined ? Number(process.env.FUZZ_RUNS) : 1;
console.log(`handlers fuzz: seed ${seed} (replay with FUZZ_SEED=${seed})`);

/** Small bounds, so one run of a few dozen calls reaches every one of them. */
const limits: Partial<BrokerLimits> = {
  historyMaxEvents: 48,
  historyMaxBytes: 64 * 1024,
  maxPayloadBytes: 2048,
  maxActiveWorkflows: 24,
  maxWaiters: 6,
  maxSubscribers: 4,
  subscriberQueueEvents: 16,
  maxLineageDepth: 3,
  maxBatchEnvelopes: 40,
};
const ownUid = process.getuid?.() ?? 1000;

/** What a handler may answer with when it refuses: the input's fault, never the broker's. */
const refusalCodes = new Set([Code.InvalidArgument, Code.FailedPrecondition, Code.NotFound, Code.ResourceExhausted, Code.PermissionDenied]);

// ---------------------------------------------------------------- arbitraries

/** Any UTF-16 code unit, lone surrogates included (what JS strings may hold and UTF-8 cannot). */
const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((unit) => String.fromCharCode(unit));
const surrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((unit) => String.fromCharCode(unit));

/** Strings of every kind: ASCII, any Unicode, broken UTF-16, long, empty. */
const anyString = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 24 }) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 24 }) },
  { weight: 2, arbitrary: fc.string({ unit: codeUnit, maxLength: 24 }) },
  { weight: 1, arbitrary: fc.tuple(fc.string({ maxLength: 8 }), surrogate, fc.string({ maxLength: 8 })).map((parts) => parts.join("")) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom("x", "é", "😀", "\u0000", "."), fc.integer({ min: 100, max: 3000 })).map(([unit, n]) => unit.repeat(n)) },
  { weight: 1, arbitrary: fc.constant("") },
);

/** A few correlation ids shared by all calls of a run, so lineage, workflows and waits meet. */
const pool = Array.from({ length: 6 }, (_, n) => `00000000-0000-4000-8000-${(n + 1).toString(16).padStart(12, "0")}`);
const pooledUuid = fc.constantFrom(...pool);
const uuidish = fc.oneof(
  { weight: 6, arbitrary: pooledUuid },
  { weight: 2, arbitrary: fc.uuid() },
  { weight: 1, arbitrary: pooledUuid.map((id) => id.toUpperCase()) },
  { weight: 1, arbitrary: fc.tuple(pooledUuid, fc.integer({ min: 0, max: 35 })).map(([id, cut]) => id.slice(0, cut)) },
  { weight: 1, arbitrary: fc.tuple(pooledUuid, anyString).map(([id, junk]) => id + junk) },
  { weight: 1, arbitrary: fc.stringMatching(/^[0-9a-fA-F-]{30,40}$/) },
  { weight: 1, arbitrary: anyString },
);

const segment = fc.oneof(fc.constantFrom("a", "b", "process", "task", "scan"), fc.stringMatching(/^[a-z0-9_-]{1,12}$/));
const validTopic = fc
  .tuple(fc.constantFrom("events", "events", "control"), fc.array(segment, { minLength: 0, maxLength: 4 }))
  .map(([first, rest]) => [first, ...rest].join("."));
const topicish = fc.oneof(
  { weight: 6, arbitrary: validTopic },
  { weight: 1, arbitrary: fc.array(segment, { minLength: 15, maxLength: 20 }).map((rest) => ["events", ...rest].join(".")) },
  { weight: 1, arbitrary: fc.integer({ min: 250, max: 300 }).map((n) => `events.${"a".repeat(n)}`) },
  { weight: 1, arbitrary: fc.constantFrom("", ".", "events.", ".events", "events..a", "Events.a", "events.#", "events.+", "other.a", "control") },
  { weight: 2, arbitrary: anyString },
);
const patternish = fc.oneof(
  { weight: 3, arbitrary: validTopic },
  { weight: 3, arbitrary: fc.constantFrom("#", "+", "events.#", "control.#", "+.#", "events.+", "events.+.+", "+.a.#") },
  { weight: 1, arbitrary: fc.constantFrom("#.a", "events.#.a", "events.a#", "++", "events.+a", "", "#.#") },
  { weight: 1, arbitrary: fc.array(fc.constantFrom("+", "a"), { minLength: 15, maxLength: 20 }).map((rest) => ["events", ...rest].join(".")) },
  { weight: 2, arbitrary: topicish },
);

const tagKey = fc.oneof({ weight: 3, arbitrary: fc.constantFrom("investigation_id", "host", "k") }, { weight: 2, arbitrary: anyString });
const tagValue = fc.oneof({ weight: 3, arbitrary: fc.constantFrom("INC-1", "INC-2", "x", "") }, { weight: 2, arbitrary: anyString });
/** Tag maps: empty, small, at and over the count limits, with huge keys and values. */
const tagMap = fc.oneof(
  { weight: 2, arbitrary: fc.constant({} as Record<string, string>) },
  { weight: 6, arbitrary: fc.dictionary(tagKey, tagValue, { maxKeys: 4 }) },
  { weight: 1, arbitrary: fc.dictionary(tagKey, tagValue, { minKeys: 10, maxKeys: 80 }) },
  { weight: 1, arbitrary: fc.integer({ min: 60, max: 3000 }).map((n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, "v"]))) },
);

const uint32 = fc.oneof(fc.constantFrom(0, 1, 2, 100, 1000, 1001, 100_000, 100_001, 0x7fffffff, 0xffffffff), fc.integer({ min: 0, max: 0xffffffff }));
const uint64 = fc.oneof(
  fc.constantFrom(0n, 1n, 2n, 47n, 48n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n),
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
);
const int64 = fc.oneof(
  fc.constantFrom(0n, -1n, 1n, -(2n ** 63n), 2n ** 63n - 1n, 3600n, 3601n, 1_700_000_000n),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
);
const int32 = fc.oneof(fc.constantFrom(0, -1, 1, 999_999_999, 1_000_000_000, -(2 ** 31), 2 ** 31 - 1), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }));
/** Timestamps and durations: unset, sensible, negative, absurd, with out-of-range nanos. */
const secondsNanos = fc.oneof(
  { weight: 3, arbitrary: fc.record({ seconds: fc.bigInt({ min: 0n, max: 5n }), nanos: fc.integer({ min: 0, max: 999_999_999 }) }) },
  { weight: 2, arbitrary: fc.record({ seconds: fc.bigInt({ min: 1_600_000_000n, max: 1_900_000_000n }), nanos: fc.integer({ min: 0, max: 999_999_999 }) }) },
  { weight: 2, arbitrary: fc.record({ seconds: int64, nanos: int32 }) },
);
const optionalTime = fc.option(secondsNanos, { nil: undefined });

const payload = fc.oneof(
  { weight: 6, arbitrary: fc.uint8Array({ maxLength: 64 }) },
  { weight: 1, arbitrary: fc.integer({ min: 2040, max: 2060 }).map((n) => new Uint8Array(n)) },
  { weight: 1, arbitrary: fc.constant(new Uint8Array(0)) },
);

const metadata: fc.Arbitrary<CorrelationMetadata> = fc
  .record({
    correlationId: uuidish,
    parentCorrelationId: fc.option(uuidish, { nil: undefined }),
    sameRoot: fc.boolean(),
    rootCorrelationId: uuidish,
    sequenceNumber: uint64,
    workflowStage: fc.oneof(fc.constantFrom("", "enumeration", "analysis"), anyString),
    sourceProcess: fc.oneof(fc.constantFrom("", "collector-a", "collector-b"), anyString),
    correlationTags: tagMap,
    startedAt: optionalTime,
    final: fc.boolean(),
  })
  .map(({ sameRoot, ...init }) =>
    create(CorrelationMetadataSchema, {
      ...init,
      // Often a consistent root step, so workflows really form.
      rootCorrelationId: sameRoot && init.parentCorrelationId === undefined ? init.correlationId : init.rootCorrelationId,
    }),
  );

/** Lineage consistent across calls: pool[0] roots a tree (1, 2 under 0; 4 under 1; 5 under 4), pool[3] is a root of its own. */
const lineages = [
  { correlationId: pool[0], rootCorrelationId: pool[0] },
  { correlationId: pool[1], parentCorrelationId: pool[0], rootCorrelationId: pool[0] },
  { correlationId: pool[2], parentCorrelationId: pool[0], rootCorrelationId: pool[0] },
  { correlationId: pool[3], rootCorrelationId: pool[3] },
  { correlationId: pool[4], parentCorrelationId: pool[1], rootCorrelationId: pool[0] },
  { correlationId: pool[5], parentCorrelationId: pool[4], rootCorrelationId: pool[0] },
];
const validMetadata: fc.Arbitrary<CorrelationMetadata> = fc
  .record({
    lineage: fc.constantFrom(...lineages),
    sequenceNumber: fc.bigInt({ min: 0n, max: 6n }),
    workflowStage: fc.constantFrom("", "enumeration", "analysis"),
    sourceProcess: fc.constantFrom("", "collector-a", "collector-b"),
    correlationTags: fc.dictionary(fc.constantFrom("investigation_id", "host"), fc.constantFrom("INC-1", "INC-2", "h1"), { maxKeys: 2 }),
    final: fc.boolean(),
  })
  .map(({ lineage, ...init }) => create(CorrelationMetadataSchema, { ...lineage, ...init }));
const validEnvelope: fc.Arbitrary<EventEnvelope> = fc
  .record({
    topic: fc.oneof(validTopic, fc.constantFrom("events.result", "control.task")),
    payload: fc.uint8Array({ maxLength: 32 }),
    contentType: fc.constantFrom("", "application/json"),
    publisherProcessId: fc.integer({ min: 0, max: 100_000 }),
    correlationMetadata: fc.option(validMetadata, { nil: undefined, freq: 5 }),
  })
  .map((init) => create(EventEnvelopeSchema, init));

const wildEnvelope: fc.Arbitrary<EventEnvelope> = fc
  .record({
    topic: topicish,
    payload,
    contentType: fc.oneof(fc.constantFrom("", "application/json"), anyString),
    timestamp: optionalTime,
    publisherProcessId: uint32,
    correlationMetadata: fc.option(metadata, { nil: undefined, freq: 3 }),
    // Broker-stamped fields a publisher has no business setting.
    eventId: uint64,
    receivedAt: optionalTime,
  })
  .map((init) => create(EventEnvelopeSchema, init));
/** Mostly well-formed envelopes (so calls get past validation and build state), often wild ones. */
const envelopeArb = fc.oneof({ weight: 3, arbitrary: validEnvelope }, { weight: 2, arbitrary: wildEnvelope });

/** Who is calling: an unverified peer, the broker's own uid, or a uid that may not publish to control.#. */
const peerArb: fc.Arbitrary<PeerIdentity> = fc.constantFrom<PeerIdentity>(
  { verified: false },
  { verified: true, pid: 4242, uid: ownUid, gid: ownUid },
  { verified: true, pid: 4343, uid: ownUid + 12_345, gid: 100 },
);

const pageToken = fc.oneof(
  fc.constant(""),
  anyString,
  fc.bigInt({ min: 0n, max: 10n ** 20n }).map((n) => Buffer.from(`v1:${n}`).toString("base64url")),
  fc.uint8Array({ maxLength: 24 }).map((bytes) => Buffer.from(bytes).toString("base64url")),
  fc.constantFrom("djE6MQ", "djE6MA", "djE6LTE", "djE6MS41", "djE6", "!!!!", "djE6MTIzNDU2Nzg5MDEyMzQ1Njc"),
);

const publishReq = fc.record({ envelope: fc.option(envelopeArb, { nil: undefined, freq: 8 }) }).map((init) => create(PublishRequestSchema, init));
const publishStreamReqs = fc.array(
  fc
    .oneof(
      { weight: 4, arbitrary: fc.array(envelopeArb, { maxLength: 6 }) },
      { weight: 2, arbitrary: fc.array(validEnvelope, { maxLength: 6 }) },
      {
        weight: 1,
        arbitrary: fc
          .integer({ min: 38, max: 44 })
          .map((n) => Array.from({ length: n }, (_, i) => create(EventEnvelopeSchema, { topic: `events.bulk.n${i}` }))),
      },
    )
    .map((envelopes) => create(PublishStreamRequestSchema, { envelopes })),
  { maxLength: 4 },
);
const validSubscribeReq = fc
  .record({
    patterns: fc.array(fc.constantFrom("#", "events.#", "control.#", "events.result", "+.task"), { minLength: 1, maxLength: 3 }),
    queueGroup: fc.constantFrom("", "", "workers"),
    subscriberName: fc.constantFrom("", "collector-a", "collector-b"),
    start: fc.oneof(
      fc.constant({ case: undefined }),
      fc.bigInt({ min: 0n, max: 60n }).map((value) => ({ case: "fromEventId" as const, value })),
      fc.constant({ case: "fromTime" as const, value: { seconds: BigInt(Math.floor(Date.now() / 1000) - 5), nanos: 0 } }),
    ),
    subscriberProcessId: fc.integer({ min: 0, max: 100_000 }),
  })
  .map((init) => create(SubscribeRequestSchema, { ...init, start: init.queueGroup === "" ? init.start : { case: undefined } } as never));
const wildSubscribeReq = fc
  .record({
    patterns: fc.oneof(
      { weight: 4, arbitrary: fc.array(patternish, { maxLength: 4 }) },
      { weight: 1, arbitrary: fc.array(patternish, { minLength: 60, maxLength: 70 }) },
    ),
    queueGroup: fc.oneof(fc.constantFrom("", "", "workers", "Bad Group"), anyString),
    subscriberName: fc.oneof(fc.constantFrom("", "collector-a", "collector-b"), anyString),
    start: fc.oneof(
      fc.constant({ case: undefined }),
      uint64.map((value) => ({ case: "fromEventId" as const, value })),
      secondsNanos.map((value) => ({ case: "fromTime" as const, value })),
    ),
    subscriberProcessId: uint32,
  })
  .map((init) => create(SubscribeRequestSchema, init as never));
const subscribeReq = fc.oneof(validSubscribeReq, wildSubscribeReq);
const validWaitReq = fc
  .record({
    correlationId: pooledUuid,
    expectedResults: fc.integer({ min: 0, max: 3 }),
    expectedSources: fc.array(fc.constantFrom("collector-a", "collector-b"), { maxLength: 2 }),
    topicPattern: fc.constantFrom("", "events.#", "#"),
    timeout: fc.option(fc.record({ seconds: fc.constant(0n), nanos: fc.integer({ min: 0, max: 30_000_000 }) }), { nil: undefined }),
    omitPayloads: fc.boolean(),
  })
  .map((init) => create(WaitForResultsRequestSchema, init));
const wildWaitReq = fc
  .record({
    correlationId: uuidish,
    expectedResults: uint32,
    expectedSources: fc.oneof(
      { weight: 4, arbitrary: fc.array(fc.oneof(fc.constantFrom("collector-a", "collector-b", ""), anyString), { maxLength: 3 }) },
      { weight: 1, arbitrary: fc.integer({ min: 1000, max: 1100 }).map((n) => Array.from({ length: n }, (_, i) => `s${i}`)) },
    ),
    topicPattern: fc.oneof(fc.constant(""), patternish),
    timeout: fc.option(secondsNanos, { nil: undefined }),
    omitPayloads: fc.boolean(),
  })
  .map((init) => create(WaitForResultsRequestSchema, init));
const waitReq = fc.oneof(validWaitReq, wildWaitReq);
const validFindReq = fc
  .record({
    tags: fc.dictionary(fc.constantFrom("investigation_id", "host"), fc.constantFrom("INC-1", "INC-2", "h1"), { minKeys: 1, maxKeys: 2 }),
    topicPattern: fc.constantFrom("", "events.#", "#", "control.#"),
    limit: fc.integer({ min: 0, max: 5 }),
    pageToken: fc.oneof(
      fc.constant(""),
      fc.integer({ min: 1, max: 80 }).map((n) => Buffer.from(`v1:${n}`).toString("base64url")),
    ),
    oldestFirst: fc.boolean(),
    omitPayloads: fc.boolean(),
  })
  .map((init) => create(FindByTagRequestSchema, init));
const wildFindReq = fc
  .record({
    tags: tagMap,
    topicPattern: fc.oneof(fc.constant(""), patternish),
    since: optionalTime,
    until: optionalTime,
    limit: uint32,
    pageToken,
    oldestFirst: fc.boolean(),
    omitPayloads: fc.boolean(),
  })
  .map((init) => create(FindByTagRequestSchema, init));
const findReq = fc.oneof(validFindReq, wildFindReq);
const timelineReq = fc.oneof(
  fc
    .record({
      rootCorrelationId: fc.constantFrom(pool[0], pool[3]),
      omitPayloads: fc.boolean(),
      limit: fc.integer({ min: 0, max: 8 }),
      afterEventId: fc.bigInt({ min: 0n, max: 60n }),
    })
    .map((init) => create(GetTimelineRequestSchema, init)),
  fc
    .record({ rootCorrelationId: uuidish, omitPayloads: fc.boolean(), limit: uint32, afterEventId: uint64 })
    .map((init) => create(GetTimelineRequestSchema, init)),
);
const workflowReq = fc.record({ correlationId: fc.oneof(pooledUuid, uuidish) }).map((init) => create(GetWorkflowRequestSchema, init));

/**
 * How long the caller keeps a wait or a subscription open: an RPC deadline, or
 * a client abort, possibly before the handler even started (a client gone, or
 * a deadline passed, while the request body was still arriving).
 */
const lifetime = fc.record({
  deadlineMs: fc.option(fc.integer({ min: 0, max: 40 }), { nil: undefined }),
  abortAfterMs: fc.integer({ min: 0, max: 30 }),
  abortedBefore: fc.integer({ min: 0, max: 3 }).map((n) => n === 0),
});
type Lifetime = { deadlineMs?: number; abortAfterMs: number; abortedBefore: boolean };

type Call = CallShape & { json?: boolean };
type CallShape =
  | { rpc: "publish"; request: MessageShape<typeof PublishRequestSchema>; peer: PeerIdentity }
  | { rpc: "publishStream"; requests: MessageShape<typeof PublishStreamRequestSchema>[]; peer: PeerIdentity }
  | { rpc: "subscribe"; request: MessageShape<typeof SubscribeRequestSchema>; peer: PeerIdentity; life: Lifetime }
  | { rpc: "waitForResults"; request: MessageShape<typeof WaitForResultsRequestSchema>; life: Lifetime }
  | { rpc: "findByTag"; request: MessageShape<typeof FindByTagRequestSchema> }
  | { rpc: "getTimeline"; request: MessageShape<typeof GetTimelineRequestSchema> }
  | { rpc: "getWorkflow"; request: MessageShape<typeof GetWorkflowRequestSchema> }
  | { rpc: "getStats" };

const callShapeArb: fc.Arbitrary<CallShape> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ rpc: fc.constant("publish" as const), request: publishReq, peer: peerArb }) },
  { weight: 2, arbitrary: fc.record({ rpc: fc.constant("publishStream" as const), requests: publishStreamReqs, peer: peerArb }) },
  { weight: 2, arbitrary: fc.record({ rpc: fc.constant("subscribe" as const), request: subscribeReq, peer: peerArb, life: lifetime }) },
  { weight: 3, arbitrary: fc.record({ rpc: fc.constant("waitForResults" as const), request: waitReq, life: lifetime }) },
  { weight: 3, arbitrary: fc.record({ rpc: fc.constant("findByTag" as const), request: findReq }) },
  { weight: 2, arbitrary: fc.record({ rpc: fc.constant("getTimeline" as const), request: timelineReq }) },
  { weight: 2, arbitrary: fc.record({ rpc: fc.constant("getWorkflow" as const), request: workflowReq }) },
  { weight: 1, arbitrary: fc.constant({ rpc: "getStats" as const }) },
);
/** A call, by a client speaking binary or JSON. */
const callArb: fc.Arbitrary<Call> = fc.tuple(callShapeArb, fc.boolean()).map(([call, json]) => ({ ...call, json }));

// ------------------------------------------------------------------- harness

type Service = ReturnType<typeof createCorrelationService>;
type MethodName = keyof typeof CorrelationService.method;

function contextFor(rpc: MethodName, peer: PeerIdentity = { verified: false }, deadlineMs?: number, json = false) {
  const method = CorrelationService.method[rpc];
  const streaming = method.methodKind !== "unary";
  return createHandlerContext({
    service: CorrelationService,
    method,
    protocolName: "connect",
    requestMethod: "POST",
    url: `http://localhost/${CorrelationService.typeName}/${method.name}`,
    // Handlers answer binary clients with stored bytes and JSON clients with decoded events.
    requestHeader: { "content-type": `application/${streaming ? "connect+" : ""}${json ? "json" : "proto"}` },
    timeoutMs: deadlineMs,
    contextValues: createContextValues().set(peerIdentityKey, peer),
  });
}

/** Outcomes per RPC ("answered" or the refusal code), to show the fuzzing reached past validation. */
const outcomes = new Map<string, Map<string, number>>();
function count(rpc: string, outcome: string): void {
  const perRpc = outcomes.get(rpc) ?? new Map<string, number>();
  perRpc.set(outcome, (perRpc.get(outcome) ?? 0) + 1);
  outcomes.set(rpc, perRpc);
}

/**
 * A refusal must be a ConnectError with a refusal code (or DEADLINE_EXCEEDED
 * for a call that had a deadline); anything else fails the property.
 */
function checkRefusal(call: Call, error: unknown): void {
  const rpc = call.rpc;
  if (!(error instanceof ConnectError)) {
    throw new Error(`${rpc} threw a non-ConnectError: ${error instanceof Error ? error.stack : String(error)}`);
  }
  const hadDeadline = "life" in call && call.life.deadlineMs !== undefined;
  if (!refusalCodes.has(error.code) && !(hadDeadline && error.code === Code.DeadlineExceeded)) {
    throw new Error(`${rpc} failed with ${Code[error.code]}: ${error.rawMessage}${error.cause instanceof Error ? `\n${error.cause.stack}` : ""}`);
  }
  count(rpc, Code[error.code]);
}

/** Rejects when `promise` takes longer than `ms`: a handler that hangs is a finding too. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
    }),
  ]);
}

/** Runs one call; resolves when it settled (waits and subscriptions included). */
async function invoke(service: Service, call: Call): Promise<void> {
  try {
    await invokeUnchecked(service, call);
    count(call.rpc, "answered");
  } catch (error) {
    checkRefusal(call, error);
  }
}

async function invokeUnchecked(service: Service, call: Call): Promise<void> {
  const json = call.json ?? false;
  const context = (rpc: MethodName, peer?: PeerIdentity, deadlineMs?: number) => contextFor(rpc, peer, deadlineMs, json);
  switch (call.rpc) {
    case "publish":
      onWire("publish", await service.publish(call.request, context("publish", call.peer)), json);
      return;
    case "publishStream": {
      const streamContext = context("publishStream", call.peer);
      const batches = call.requests;
      async function* requests() {
        yield* batches;
      }
      try {
        for await (const response of service.publishStream(requests(), streamContext)) onWire("publishStream", response, json);
      } finally {
        streamContext.abort();
      }
      return;
    }
    case "subscribe": {
      const streamContext = context("subscribe", call.peer, call.life.deadlineMs);
      if (call.life.abortedBefore) streamContext.abort();
      const stream = service.subscribe(call.request, streamContext)[Symbol.asyncIterator]();
      const timer = setTimeout(() => streamContext.abort(), call.life.abortAfterMs);
      try {
        // The first answer confirms the subscription (or the refusal is thrown here).
        for (let next = await stream.next(); !next.done; next = await stream.next()) onWire("subscribe", next.value, json);
      } finally {
        clearTimeout(timer);
        streamContext.abort();
        await stream.return?.();
      }
      return;
    }
    case "waitForResults": {
      const waitContext = context("waitForResults", { verified: false }, call.life.deadlineMs);
      if (call.life.abortedBefore) waitContext.abort();
      const timer = setTimeout(() => waitContext.abort(), call.life.abortAfterMs);
      try {
        onWire("waitForResults", await service.waitForResults(call.request, waitContext), json);
      } finally {
        clearTimeout(timer);
        waitContext.abort();
      }
      return;
    }
    case "findByTag":
      onWire("findByTag", await service.findByTag(call.request, context("findByTag")), json);
      return;
    case "getTimeline":
      onWire("getTimeline", await service.getTimeline(call.request, context("getTimeline")), json);
      return;
    case "getWorkflow":
      onWire("getWorkflow", await service.getWorkflow(call.request, context("getWorkflow")), json);
      return;
    case "getStats":
      onWire("getStats", await service.getStats(create(GetStatsRequestSchema), context("getStats")), json);
      return;
  }
}

/**
 * What the adapter does with an answer: serializes it (JSON, or binary, where
 * handlers put stored events' bytes in as they are) — a failure there would be
 * INTERNAL. Binary answers are decoded again, so their bytes must be a valid
 * message. Answers the decoded (or given) message.
 */
function onWire(rpc: MethodName, answer: unknown, json: boolean): Message {
  const schema = CorrelationService.method[rpc].output as DescMessage;
  const message = answer as Message;
  if (json) {
    toJsonString(schema, message);
    return message;
  }
  return fromBinary(schema, toBinary(schema, message));
}

function brokerWithService(): { broker: CorrelationBroker; service: Service } {
  const broker = new CorrelationBroker(limits, Date.now, undefined, { controlUids: [ownUid, 0] });
  return { broker, service: createCorrelationService(broker) };
}

/** The index sizes of the broker's history (private: what "never grows past history" is about). */
function indexSizes(broker: CorrelationBroker): Record<string, number> {
  return (broker as unknown as { history: { indexSizes: Record<string, number> } }).history.indexSizes;
}

/** Counters consistent, everything released, and the broker still takes and finds a valid event. */
async function checkInvariants(broker: CorrelationBroker, service: Service): Promise<void> {
  const stats = broker.stats();
  expect(stats.eventsStored).toBeLessThanOrEqual(stats.historyMaxEvents);
  expect(stats.bytesStored).toBeLessThanOrEqual(stats.historyMaxBytes);
  // Every accepted event is stored, evicted (by a history bound or for memory) or expired; no id was stamped without being committed.
  expect(stats.eventsStored).toBe(stats.eventsPublished - stats.eventsEvicted - stats.memory.eventsEvicted - stats.eventsExpired);
  expect(stats.lastEventId).toBe(stats.eventsPublished);
  expect(stats.workflowsActive).toBeLessThanOrEqual(limits.maxActiveWorkflows as number);
  expect(stats.waiters).toBe(0);
  expect(stats.subscribers).toBe(0);

  const root = "11111111-2222-4333-8444-555555555555";
  const answer = await service.publish(
    create(PublishRequestSchema, {
      envelope: { topic: "events.fuzz.check", correlationMetadata: { correlationId: root, rootCorrelationId: root, correlationTags: { fuzz: "check" } } },
    }),
    contextFor("publish"),
  );
  expect(Number(answer.eventId)).toBe(stats.lastEventId + 1);
  const found = onWire(
    "findByTag",
    await service.findByTag(create(FindByTagRequestSchema, { tags: { fuzz: "check" } }), contextFor("findByTag")),
    false,
  ) as FindByTagResponse;
  expect(found.events.map((event) => event.eventId)).toEqual([answer.eventId]);

  // Push every event out of history: no index may keep an entry for one of them.
  const flush = Array.from({ length: limits.historyMaxEvents as number }, () => create(EventEnvelopeSchema, { topic: "events.fuzz.flush" }));
  for (let i = 0; i < flush.length; i += limits.maxBatchEnvelopes as number) {
    publishBatchNow(broker, flush.slice(i, i + (limits.maxBatchEnvelopes as number)), { verified: false });
  }
  expect(indexSizes(broker)).toEqual({ tags: 0, correlations: 0, roots: 0, hosts: 0, templates: 0 });
}

/** Runs a sequence of calls the way a server would: unary calls in turn, waits and subscriptions alongside. */
async function runCalls(service: Service, calls: Call[]): Promise<void> {
  const background: Promise<unknown>[] = [];
  for (const call of calls) {
    const settled = invoke(service, call);
    // Settled as values, so a refusal that broke the property is reported below, not as an unhandled rejection.
    if (call.rpc === "waitForResults" || call.rpc === "subscribe")
      background.push(
        settled.then(
          () => undefined,
          (error: unknown) => ({ error }),
        ),
      );
    else await within(settled, 5000, call.rpc);
  }
  const outcomes = await within(Promise.all(background), 5000, "waits and subscriptions");
  const failed = outcomes.find((outcome) => outcome !== undefined) as { error: unknown } | undefined;
  if (failed !== undefined) throw failed.error;
}

// ----------------------------------------------------------------- properties

/** The main property: any sequence of calls is answered or refused, and the invariants hold afterwards. */
const callSequences = fc.asyncProperty(fc.array(callArb, { minLength: 1, maxLength: 40, size: "medium" }), async (calls) => {
  const { broker, service } = brokerWithService();
  await runCalls(service, calls);
  await checkInvariants(broker, service);
});

describe("CorrelationService handlers under arbitrary requests", () => {
  afterAll(() => {
    const lines = [...outcomes].map(([rpc, perRpc]) => `  ${rpc}: ${[...perRpc].map(([outcome, n]) => `${outcome} ${n}`).join(", ")}`);
    const calls = [...outcomes.values()].reduce((sum, perRpc) => sum + [...perRpc.values()].reduce((a, b) => a + b, 0), 0);
    console.log(`handlers fuzz: ${calls} calls, outcomes per RPC\n${lines.join("\n")}`);
    // Every RPC was answered at least once: the arbitraries reach past validation.
    for (const rpc of ["publish", "publishStream", "subscribe", "waitForResults", "findByTag", "getTimeline", "getWorkflow", "getStats"]) {
      expect(outcomes.get(rpc)?.get("answered") ?? 0, rpc).toBeGreaterThan(0);
    }
  });

  it("should answer or refuse with a refusal code, and keep its invariants", async () => {
    await fc.assert(callSequences, { seed, numRuns: Math.round(300 * runsScale), endOnFailure: false });
  });

  it("should contain whatever protobuf-es makes of random and mutated request bytes", async () => {
    // Valid encodings of every request type, then mutated: decode as the server would, then call.
    const encoded = fc.oneof(
      encodedAs("publish", PublishRequestSchema, publishReq),
      encodedAs("subscribe", SubscribeRequestSchema, subscribeReq),
      encodedAs("waitForResults", WaitForResultsRequestSchema, waitReq),
      encodedAs("findByTag", FindByTagRequestSchema, findReq),
      encodedAs("getTimeline", GetTimelineRequestSchema, timelineReq),
      encodedAs("getWorkflow", GetWorkflowRequestSchema, workflowReq),
      fc.constant({ rpc: "getStats" as const, schema: GetStatsRequestSchema as DescMessage, bytes: new Uint8Array(0) }),
    );
    const mutated = fc.tuple(encoded, byteMutations(2)).map(([sample, mutate]) => ({ ...sample, bytes: mutate(sample.bytes) }));
    const random = fc.tuple(encoded, fc.uint8Array({ maxLength: 256 })).map(([sample, bytes]) => ({ ...sample, bytes }));
    // Hostile shapes: unknown groups nested 100 000 deep, a map of 50 000 entries, a length prefix past the end.
    const hostile = fc.tuple(encoded, fc.constantFrom(deepGroups, hugeTagMap, lengthPastEnd)).map(([sample, bytes]) => ({ ...sample, bytes }));
    let decoded = 0;
    let refusedByDecoder = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof({ weight: 8, arbitrary: mutated }, { weight: 2, arbitrary: random }, { weight: 1, arbitrary: hostile }), {
          minLength: 1,
          maxLength: 12,
        }),
        async (samples) => {
          const { broker, service } = brokerWithService();
          const calls: Call[] = [];
          for (const { rpc, schema, bytes } of samples) {
            let request;
            try {
              request = fromBinary(schema, bytes);
            } catch (error) {
              // What the server does with it: the adapter answers with a ConnectError, the lean path with INVALID_ARGUMENT.
              expect(error).toBeInstanceOf(Error);
              refusedByDecoder++;
              continue;
            }
            decoded++;
            calls.push(callFor(rpc, request));
          }
          await runCalls(service, calls);
          await checkInvariants(broker, service);
        },
      ),
      { seed, numRuns: Math.round(400 * runsScale), endOnFailure: false },
    );
    console.log(`handlers fuzz: ${decoded} mutated requests decoded and called, ${refusedByDecoder} refused by the decoder`);
    expect(decoded).toBeGreaterThan(0);
    expect(refusedByDecoder).toBeGreaterThan(0);
  });
});

/**
 * Counterexamples random runs found, replayed on every run (the randomized runs above stay).
 * Each is kept twice: as the run found it (its seed and shrink path: the exact case while the
 * arbitraries are unchanged) and as the literal calls it shrank to (whatever the arbitraries become).
 */
describe("counterexamples the handler fuzzing found", () => {
  const root = pool[0];
  const child = pool[1];
  const envelopeWith = (init: Parameters<typeof create<typeof EventEnvelopeSchema>>[1]) =>
    create(PublishRequestSchema, { envelope: create(EventEnvelopeSchema, init) });
  const publishCall = (request: MessageShape<typeof PublishRequestSchema>, json = false): Call => ({
    rpc: "publish",
    request,
    peer: { verified: false },
    json,
  });
  const replay = async (calls: Call[]) => {
    const { broker, service } = brokerWithService();
    await runCalls(service, calls);
    await checkInvariants(broker, service);
    return broker;
  };

  it("seed 630584144: a sequence_number of 2^64-1 made GetWorkflow fail to encode (stored as a double, it read 2^64)", async () => {
    await fc.assert(callSequences, { seed: 630584144, path: "269:3:0:2:4:4:4:4:7:5:6:6:6:6:6:6:6:6:6:6:6:6:7:6:5:5:4:5:5:5:5:5", endOnFailure: true });
    const max = 2n ** 64n - 1n;
    const broker = await replay([
      publishCall(
        envelopeWith({
          topic: "events",
          correlationMetadata: { correlationId: child, parentCorrelationId: root, rootCorrelationId: root, sequenceNumber: max },
        }),
      ),
      { rpc: "getWorkflow", request: create(GetWorkflowRequestSchema, { correlationId: child }), json: false },
      { rpc: "getWorkflow", request: create(GetWorkflowRequestSchema, { correlationId: child }), json: true },
    ]);
    expect(broker.workflow(child).state.participants.get("pid:0")?.lastSequence).toBe(max);
  });

  it("seed 2009791146: an unknown group (wire type 3) in an envelope failed Publish with INTERNAL: the storage split could not walk it", async () => {
    // What protobuf-es made of the mutated bytes: a varint field, then an empty group. The seed's fields 13 and 14
    // are known since (host_id, origin_event_id): fields 1000 and 1001 stay unknown (tags 0xc0 0x3e; 0xcb 0x3e … 0xcc 0x3e).
    const envelope = create(EventEnvelopeSchema, { topic: "events.a" });
    envelope.$unknown = [
      { no: 1000, wireType: 0, data: Uint8Array.from([0x6f]) },
      { no: 1001, wireType: 3, data: Uint8Array.from([0xcc, 0x3e]) },
    ];
    const { broker, service } = brokerWithService();
    await runCalls(service, [publishCall(create(PublishRequestSchema, { envelope })), publishCall(create(PublishRequestSchema, { envelope }), true)]);
    // Every field survives the broker: the group is stored as it came, from both paths.
    for (const id of [1, 2]) expect(Buffer.from(broker.eventBytes(id) ?? []).includes(Buffer.from([0xc0, 0x3e, 0x6f, 0xcb, 0x3e, 0xcc, 0x3e]))).toBe(true);
    await checkInvariants(broker, service);
  });

  it("7f88b90 (seed not recorded): a Timestamp outside its range was stored as sent and broke every JSON answer holding the event", async () => {
    for (const timestamp of [
      { seconds: 2n ** 62n, nanos: 0 },
      { seconds: -(2n ** 62n), nanos: 0 },
      { seconds: 1n, nanos: 1_000_000_000 },
      { seconds: 1n, nanos: -1 },
    ]) {
      for (const where of ["timestamp", "startedAt"] as const) {
        const meta = { correlationId: root, rootCorrelationId: root, ...(where === "startedAt" ? { startedAt: timestamp } : {}) };
        await replay([
          publishCall(envelopeWith({ topic: "events.a", correlationMetadata: meta, ...(where === "timestamp" ? { timestamp } : {}) }), true),
          { rpc: "getTimeline", request: create(GetTimelineRequestSchema, { rootCorrelationId: root }), json: true },
          { rpc: "findByTag", request: create(FindByTagRequestSchema, { tags: { k: "v" } }), json: true },
        ]);
      }
    }
    expect(outcomes.get("publish")?.get("InvalidArgument") ?? 0).toBeGreaterThanOrEqual(8);
  });
});

function callFor(rpc: MethodName, request: unknown): Call {
  const life = { deadlineMs: 10, abortAfterMs: 5, abortedBefore: false };
  const peer: PeerIdentity = { verified: false };
  switch (rpc) {
    case "publish":
      return { rpc, request: request as Extract<Call, { rpc: "publish" }>["request"], peer };
    case "subscribe":
      return { rpc, request: request as Extract<Call, { rpc: "subscribe" }>["request"], peer, life };
    case "waitForResults":
      return { rpc, request: request as Extract<Call, { rpc: "waitForResults" }>["request"], life };
    case "findByTag":
      return { rpc, request: request as Extract<Call, { rpc: "findByTag" }>["request"] };
    case "getTimeline":
      return { rpc, request: request as Extract<Call, { rpc: "getTimeline" }>["request"] };
    case "getWorkflow":
      return { rpc, request: request as Extract<Call, { rpc: "getWorkflow" }>["request"] };
    default:
      return { rpc: "getStats" };
  }
}

/** Field 15 (unknown to every request) as a start-group tag, 100 000 times, never closed. */
const deepGroups = new Uint8Array(100_000).fill((15 << 3) | 3);
/** A FindByTagRequest (field 1: map<string,string>) with 50 000 entries; also read as the other requests' field 1. */
const hugeTagMap = toBinary(
  FindByTagRequestSchema,
  create(FindByTagRequestSchema, { tags: Object.fromEntries(Array.from({ length: 50_000 }, (_, i) => [`k${i}`, "v"])) }),
);
/** Field 1, length-delimited, claiming 2^31 bytes. */
const lengthPastEnd = new Uint8Array([0x0a, 0x80, 0x80, 0x80, 0x80, 0x08, 0x01]);

/** Valid encodings of one request type, labelled with its RPC, for the byte mutator. */
function encodedAs<Desc extends DescMessage, Rpc extends string>(rpc: Rpc, schema: Desc, requests: fc.Arbitrary<MessageShape<Desc>>) {
  return requests.map((message) => ({ rpc, schema: schema as DescMessage, bytes: toBinary(schema, message) }));
}
