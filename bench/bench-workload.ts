// The events every figure publishes, generated deterministically so the broker
// process and the in-process CorrelationBroker are loaded with the same events.
import { type MessageInitShape, create, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { type CorrelationMetadata, CorrelationMetadataSchema } from "../gen/corrbus/v1/correlation_pb.js";
import { type EventEnvelope, EventEnvelopeSchema } from "../gen/corrbus/v1/envelope_pb.js";
import { PublishRequestSchema } from "../gen/corrbus/v1/service_pb.js";

/** Every payload is this many bytes. */
export const payloadBytes = 200;

/** The payload (shared: nothing in the publish path mutates it). */
export const benchPayload = new Uint8Array(payloadBytes).fill(0x61);

/** Tagged events come in correlations of this many events. */
export const eventsPerCorrelation = 100;

/** One correlation in this many carries the queried tag value: 1 % of tagged events match. */
const matchEvery = 100;

/** The FindByTag query: matches 1 % of tagged events. */
export const matchingTags: Readonly<Record<string, string>> = Object.freeze({ investigation_id: "INC-0" });

/** Id spaces keep the correlations of different workloads apart. */
export const idSpace = { tagged: 1, workflow: 2, publish: 3, wait: 4, fleet: 5 } as const;

/**
 * A valid (version 4, RFC variant) UUID for `n` in `space`: deterministic, so
 * two processes generating the same workload produce the same ids.
 */
export function benchUuid(space: number, n: number): string {
  return `${space.toString(16).padStart(8, "0")}-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;
}

/**
 * Tagged event `index` of a collector: correlation `index / 100`, 3 tags
 * (investigation_id matching 1 % of events, host, collector), stage, source,
 * sequence number, the correlation's last event `final`.
 */
export function taggedEnvelope(index: number, space: number = idSpace.tagged, source = "bench-collector", topic = "events.bench.load.observed"): EventEnvelope {
  const correlation = Math.floor(index / eventsPerCorrelation);
  const id = benchUuid(space, correlation);
  const position = index % eventsPerCorrelation;
  return envelope(topic, {
    correlationId: id,
    rootCorrelationId: id,
    sequenceNumber: BigInt(position + 1),
    workflowStage: "collect",
    sourceProcess: source,
    correlationTags: { investigation_id: `INC-${correlation % matchEvery}`, host: `host-${correlation % 7}`, collector: source },
    final: position === eventsPerCorrelation - 1,
  });
}

/** Root correlation id of workflow `workflow` (see workflowEnvelope). */
export function workflowRootId(workflow: number): string {
  return benchUuid(idSpace.workflow, workflow * 1_000_000);
}

/**
 * Event `index` of workflow `workflow`: the first 100 events belong to the
 * root correlation (stage enumeration), each following 100 to one child of
 * the root (stage integrity), so a 1 K-event workflow is a root and 9
 * children, a 10 K-event one a root and 99 children. 3 tags on every event.
 */
export function workflowEnvelope(workflow: number, index: number): EventEnvelope {
  const step = Math.floor(index / eventsPerCorrelation);
  const position = index % eventsPerCorrelation;
  const rootId = workflowRootId(workflow);
  const isRoot = step === 0;
  const correlationId = isRoot ? rootId : benchUuid(idSpace.workflow, workflow * 1_000_000 + step);
  const stage = isRoot ? "enumeration" : "integrity";
  return envelope(`events.bench.workflow.${stage}`, {
    correlationId,
    parentCorrelationId: isRoot ? undefined : rootId,
    rootCorrelationId: rootId,
    sequenceNumber: BigInt(position + 1),
    workflowStage: stage,
    sourceProcess: isRoot ? "bench-agent" : `bench-collector-${step % 4}`,
    correlationTags: { investigation_id: `WF-${workflow}`, host: "host-0", step: String(step) },
    final: position === eventsPerCorrelation - 1,
  });
}

/** The metadata of the Publish figures: a child of a root, 3 tags, stage, source. */
export function publishCorrelation(sourceProcess: string): { root: CorrelationMetadata; child: CorrelationMetadata } {
  const rootId = benchUuid(idSpace.publish, process.pid);
  const root = create(CorrelationMetadataSchema, {
    correlationId: rootId,
    rootCorrelationId: rootId,
    workflowStage: "enumeration",
    sourceProcess,
    correlationTags: { investigation_id: "INC-12345" },
    startedAt: timestampFromMs(Date.now()),
  });
  const child = create(CorrelationMetadataSchema, {
    correlationId: benchUuid(idSpace.publish, process.pid + 1_000_000_000),
    parentCorrelationId: rootId,
    rootCorrelationId: rootId,
    workflowStage: "integrity",
    sourceProcess,
    correlationTags: { investigation_id: "INC-12345", suspicious_pid: "4892", host: "host-0" },
    startedAt: timestampFromMs(Date.now()),
  });
  return { root, child };
}

/** The bytes of a PublishRequest with metadata, as the client sends them: what the floor echoes. */
export function encodedPublishRequest(topic: string, correlation: CorrelationMetadata): Uint8Array {
  const withSequence = create(CorrelationMetadataSchema, { ...correlation, sequenceNumber: 1n });
  return toBinary(PublishRequestSchema, create(PublishRequestSchema, { envelope: envelope(topic, withSequence) }));
}

function envelope(topic: string, correlationMetadata: MessageInitShape<typeof CorrelationMetadataSchema>): EventEnvelope {
  return create(EventEnvelopeSchema, {
    topic,
    payload: benchPayload,
    timestamp: timestampFromMs(Date.now()),
    publisherProcessId: process.pid,
    correlationMetadata,
  });
}

/** Topic of the Publish figures (and of the floor's bytes). */
export const publishTopic = "events.bench.publish.observed";
