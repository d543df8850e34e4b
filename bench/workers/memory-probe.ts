// Child process (run with --expose-gc): what stored events cost an in-process
// CorrelationBroker, indexes and workflow state included.
//   node --expose-gc memory-probe.js --sizes 10000,1000000 [--batch 100]
// Loads tagged events (200-byte payload, 3 tags) up to each size in turn and
// prints {"type":"memory", events, heapBytes, externalBytes, totalBytes, …}
// per size: the growth of heapUsed + external since before the broker was
// created, each side of two full collections. arrayBuffers is not added: it
// is already part of external.
import { parseArgs } from "node:util";
import type { EventEnvelope } from "../../gen/corrbus/v1/envelope_pb.js";
import { CorrelationBroker } from "../../src/core/correlation-broker.js";
import { taggedEnvelope } from "../bench-workload.js";
import { report } from "../worker-channel.js";

const { values } = parseArgs({ options: { sizes: { type: "string" }, batch: { type: "string", default: "100" } } });
const sizes = (values.sizes ?? "10000").split(",").map(Number);
const batchSize = Number(values.batch);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) {
  report({ type: "error", message: "run with node --expose-gc" });
  process.exit(1);
}

const collect = () => {
  gc();
  gc();
};

/** Loads `count` events into `broker` in batches. */
function load(target: CorrelationBroker, from: number, count: number): void {
  for (let start = from; start < from + count; start += batchSize) {
    const batch: EventEnvelope[] = [];
    for (let index = start; index < Math.min(from + count, start + batchSize); index++) batch.push(taggedEnvelope(index));
    target.commit(target.accept(batch, { verified: false }, true));
  }
}

// Warm-up in a second broker first: the code V8 compiles on the way is not
// history. It stays alive to the end, so freeing it cannot offset a reading.
const warmUp = new CorrelationBroker({ historyMaxEvents: 2_000_000, historyMaxBytes: 2 ** 31 });
load(warmUp, 0, Math.min(20_000, sizes[0]));
collect();
const before = process.memoryUsage();
const broker = new CorrelationBroker({ historyMaxEvents: 2_000_000, historyMaxBytes: 2 ** 31 });
let loaded = 0;
for (const size of sizes) {
  while (loaded < size) {
    const batch: EventEnvelope[] = [];
    for (let index = loaded; index < Math.min(size, loaded + batchSize); index++) batch.push(taggedEnvelope(index));
    broker.commit(broker.accept(batch, { verified: false }, true));
    loaded += batch.length;
  }
  collect();
  const after = process.memoryUsage();
  const heapBytes = after.heapUsed - before.heapUsed;
  const externalBytes = after.external - before.external;
  const stats = broker.stats();
  report({
    type: "memory",
    events: stats.eventsStored,
    heapBytes,
    externalBytes,
    arrayBuffersBytes: after.arrayBuffers - before.arrayBuffers,
    totalBytes: heapBytes + externalBytes,
    perEventBytes: (heapBytes + externalBytes) / stats.eventsStored,
    storedBytes: stats.bytesStored,
    workflows: stats.workflowsActive,
  });
}
report({ type: "done", warmUpEvents: warmUp.stats().eventsStored });
