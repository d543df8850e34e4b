// Child process: a collector streaming events through PublishStream, batched
// and pipelined (no round trip per batch), counting the acks.
//   node stream-publisher.js --socket S --count N [--batch B] [--workload tagged|workflow]
//        [--first I] [--space K] [--workflow W] [--topic T] [--name N] [--warmup W] [--go]
// Prints {"type":"ready"} once connected and warmed up (W events streamed);
// with --go it then waits for a "go" line on stdin. Ends with {"type":"done",
// acked, startMs, endMs, …} (wall-clock ms, comparable across processes) or
// {"type":"error", …}.
import { parseArgs } from "node:util";
import { create } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import type { EventEnvelope } from "../../gen/corrbus/v1/envelope_pb.js";
import { type PublishStreamRequest, PublishStreamRequestSchema } from "../../gen/corrbus/v1/service_pb.js";
import { type CorrelationClient, createCorrelationClient } from "../../src/index.js";
import { idSpace, taggedEnvelope, workflowEnvelope } from "../bench-workload.js";
import { wallClockMs } from "../call-timing.js";
import { closeCommands, nextCommand, report } from "../worker-channel.js";

const { values } = parseArgs({
  options: {
    socket: { type: "string" },
    count: { type: "string", default: "0" },
    batch: { type: "string", default: "100" },
    workload: { type: "string", default: "tagged" },
    first: { type: "string", default: "0" },
    space: { type: "string", default: String(idSpace.tagged) },
    workflow: { type: "string", default: "1" },
    topic: { type: "string", default: "events.bench.load.observed" },
    name: { type: "string", default: "bench-collector" },
    warmup: { type: "string", default: "0" },
    go: { type: "boolean", default: false },
  },
});

const count = Number(values.count);
const batchSize = Number(values.batch);
const first = Number(values.first);
const space = Number(values.space);
const workflow = Number(values.workflow);
const name = values.name;
const topic = values.topic;
const generate: (index: number) => EventEnvelope =
  values.workload === "workflow" ? (index) => workflowEnvelope(workflow, index) : (index) => taggedEnvelope(index, space, name, topic);
// Warm-up events use their own correlations so the measured ones start clean.
const warmupEnvelope = (index: number) => taggedEnvelope(index, space + 0x8000, name, topic);

const client = createCorrelationClient({ socketPath: values.socket, sourceProcess: name });

try {
  await client.service.getStats({});
  await stream(client, Number(values.warmup), 0, warmupEnvelope);
  report({ type: "ready" });
  if (values.go) {
    const command = await nextCommand();
    if (command !== "go") throw new Error(`expected "go", got "${command}"`);
  }
  const startMs = wallClockMs();
  const result = await stream(client, count, first, generate);
  const endMs = wallClockMs();
  report({ type: "done", count, ...result, startMs, endMs });
} catch (error) {
  const connectError = ConnectError.from(error);
  report({ type: "error", code: connectError.code, message: connectError.rawMessage });
  process.exitCode = 1;
} finally {
  client.close();
  closeCommands();
}

async function stream(client: CorrelationClient, total: number, from: number, envelope: (index: number) => EventEnvelope) {
  async function* batches(): AsyncGenerator<PublishStreamRequest> {
    for (let start = from; start < from + total; start += batchSize) {
      const envelopes: EventEnvelope[] = [];
      for (let index = start; index < Math.min(from + total, start + batchSize); index++) envelopes.push(envelope(index));
      yield create(PublishStreamRequestSchema, { envelopes });
    }
  }
  let acked = 0;
  let acks = 0;
  let firstId = 0n;
  let lastId = 0n;
  if (total === 0) return { acked, acks, firstId, lastId };
  for await (const ack of client.service.publishStream(batches())) {
    if (firstId === 0n && ack.eventIds.length > 0) firstId = ack.eventIds[0];
    acked += ack.eventIds.length;
    acks++;
    if (ack.eventIds.length > 0) lastId = ack.eventIds[ack.eventIds.length - 1];
  }
  return { acked, acks, firstId, lastId };
}
