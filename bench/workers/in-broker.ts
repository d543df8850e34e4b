// Child process: the in-broker figures. An in-process CorrelationBroker (the
// domain core, no transport) is loaded with the same events, in the same
// order, as the broker process of the query figures, and times what the
// handlers do before serialization:
//   FindByTag   = broker.findByTag + setStoredEvents (the answer's events field)
//   GetTimeline = broker.timeline + setStoredEvents
// (what the handlers do for gRPC and Connect-proto clients: the stored bytes
// written into the answer's one buffer, no decoding; JSON clients
// additionally pay a decode per event)
//   wake-up     = broker.accept + commit of the completing event → waitForResults resolves
// It runs in its own process so its million-event heap never disturbs the
// client-side measurements of the bench process.
//   node in-broker.js --config JSON
// Prints {"type":"loaded"}, {"type":"latency", id, …µs} lines and {"type":"done"}.
import { create } from "@bufbuild/protobuf";
import { EventEnvelopeSchema } from "../../gen/corrbus/v1/envelope_pb.js";
import { FindByTagResponseSchema, GetTimelineResponseSchema } from "../../gen/corrbus/v1/service_pb.js";
import type { EventEnvelope } from "../../gen/corrbus/v1/envelope_pb.js";
import type { PeerIdentity } from "../../src/core/broker-ports.js";
import { CorrelationBroker } from "../../src/core/correlation-broker.js";
import { setStoredEvents } from "../../src/server/event-fields.js";
import type { BenchConfig } from "../bench-config.js";
import { benchPayload, benchUuid, idSpace, matchingTags, taggedEnvelope, workflowEnvelope, workflowRootId } from "../bench-workload.js";
import { summarize } from "../percentiles.js";
import { report } from "../worker-channel.js";

const config = JSON.parse(process.argv[process.argv.indexOf("--config") + 1]) as BenchConfig;
const peer: PeerIdentity = { verified: false };
const broker = new CorrelationBroker({ historyMaxEvents: 2_000_000, historyMaxBytes: 2 ** 31 });
const warmupCalls = 200;

try {
  const [smallHistory, largeHistory] = config.findHistorySizes;
  load(0, smallHistory, (index) => taggedEnvelope(index));
  timeFindByTag(smallHistory);
  config.timelines.forEach((timeline, position) => {
    load(0, timeline.events, (index) => workflowEnvelope(position + 1, index));
  });
  for (const [position, timeline] of config.timelines.entries()) timeTimeline(position + 1, timeline.events, timeline.callsInBroker);
  load(smallHistory, largeHistory - smallHistory, (index) => taggedEnvelope(index));
  timeFindByTag(largeHistory);
  await timeWakeUp(config.waitCallsInBroker);
  report({ type: "done" });
} catch (error) {
  report({ type: "error", message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  process.exitCode = 1;
}

function load(first: number, count: number, envelope: (index: number) => EventEnvelope): void {
  const start = performance.now();
  for (let from = first; from < first + count; from += config.streamBatch) {
    const batch: EventEnvelope[] = [];
    for (let index = from; index < Math.min(first + count, from + config.streamBatch); index++) batch.push(envelope(index));
    broker.commit(broker.accept(batch, peer, true));
  }
  report({ type: "loaded", events: count, stored: broker.stats().eventsStored, ms: performance.now() - start });
}

function timeFindByTag(historySize: number): void {
  const query = { tags: { ...matchingTags }, topicPattern: "", limit: config.findLimit, cursor: 0, oldestFirst: false };
  let results = 0;
  const call = () => {
    const page = broker.findByTag(query);
    const answer = setStoredEvents(create(FindByTagResponseSchema), 1, broker, page.ids, false, false);
    results = answer.$unknown === undefined ? 0 : page.ids.length;
  };
  const samples = timeSync(warmupCalls, config.findCallsInBroker, call);
  report({ type: "latency", id: `find.history${historySize}.inBroker`, results, stored: broker.stats().eventsStored, ...summarize(samples) });
}

function timeTimeline(workflow: number, events: number, calls: number): void {
  const rootId = workflowRootId(workflow);
  let results = 0;
  let correlations = 0;
  const call = () => {
    const timeline = broker.timeline(rootId, 0, events);
    const answer = setStoredEvents(create(GetTimelineResponseSchema), 1, broker, timeline.ids, false, false);
    results = answer.$unknown === undefined ? 0 : timeline.ids.length;
    correlations = timeline.correlations.length;
  };
  const samples = timeSync(Math.min(warmupCalls, calls), calls, call);
  report({ type: "latency", id: `timeline.events${events}.inBroker`, results, correlations, ...summarize(samples) });
}

async function timeWakeUp(calls: number): Promise<void> {
  const samples: number[] = [];
  const warmup = Math.min(warmupCalls, calls);
  for (let index = 0; index < warmup + calls; index++) {
    const correlationId = benchUuid(idSpace.wait, index);
    const waiting = broker.waitForResults({ correlationId, expectedResults: 1, expectedSources: [], topicPattern: "" }, 10_000);
    let wokeAt = 0;
    waiting.then(() => (wokeAt = performance.now()));
    const start = performance.now();
    broker.commit(broker.accept([resultEnvelope(correlationId)], peer, false));
    const outcome = await waiting;
    if (!outcome.complete) throw new Error(`wait ${correlationId} ended ${outcome.reason}`);
    if (index >= warmup) samples.push((wokeAt - start) * 1000);
  }
  report({ type: "latency", id: "wait.inBroker", results: 1, ...summarize(samples) });
}

function resultEnvelope(correlationId: string): EventEnvelope {
  return create(EventEnvelopeSchema, {
    topic: "events.bench.wait.result",
    payload: benchPayload,
    publisherProcessId: process.pid,
    correlationMetadata: {
      correlationId,
      rootCorrelationId: correlationId,
      sequenceNumber: 1n,
      workflowStage: "answer",
      sourceProcess: "bench-collector",
      correlationTags: { investigation_id: "INC-WAIT", host: "host-0", collector: "bench-collector" },
      final: true,
    },
  });
}

/** Durations (µs) of `calls` synchronous calls after `warmup` untimed ones. */
function timeSync(warmup: number, calls: number, call: () => void): number[] {
  for (let index = 0; index < warmup; index++) call();
  const samples = new Array<number>(calls);
  for (let index = 0; index < calls; index++) {
    const start = performance.now();
    call();
    samples[index] = (performance.now() - start) * 1000;
  }
  return samples;
}
