// Child process: a NATS publisher, the counterpart of stream-publisher.ts.
//   node nats-publisher.js --server URL --mode core|jetstream --subject S --count N
//        [--warmup W] [--in-flight K] [--space K] [--name N] [--go]
// Each message is the bench's 200-byte payload with the correlation metadata
// of the same tagged event corrbus publishes, as headers.
//   core: NATS core publish (fire and forget); the end is after a flush, when
//     the server has read every message.
//   jetstream: js.publish with K calls in flight, each resolved by its PubAck.
// Prints {"type":"ready"} once connected and warmed up (W messages); with --go
// it then waits for a "go" line on stdin. Ends with {"type":"done", acked,
// startMs, endMs} (wall-clock ms) or {"type":"error", message}.
import { parseArgs } from "node:util";
import { jetstream } from "@nats-io/jetstream";
import { type NatsConnection, connect } from "@nats-io/transport-node";
import { benchPayload, idSpace, taggedEnvelope } from "../bench-workload.js";
import { timeInFlight, wallClockMs } from "../call-timing.js";
import { natsCorrelationHeaders } from "../nats-headers.js";
import { closeCommands, nextCommand, report } from "../worker-channel.js";

const { values } = parseArgs({
  options: {
    server: { type: "string" },
    mode: { type: "string", default: "core" },
    subject: { type: "string", default: "bench.fanout.tick" },
    count: { type: "string", default: "0" },
    warmup: { type: "string", default: "0" },
    "in-flight": { type: "string", default: "256" },
    space: { type: "string", default: String(idSpace.tagged) },
    name: { type: "string", default: "bench-nats-publisher" },
    go: { type: "boolean", default: false },
  },
});

const count = Number(values.count);
const inFlight = Number(values["in-flight"]);
const space = Number(values.space);
const subject = values.subject;
/** Messages between flushes of a core publisher: keeps its outgoing buffer bounded without a round trip per message. */
const flushEvery = 1000;

let connection: NatsConnection | undefined;
try {
  const nc = await connect({ servers: values.server, name: values.name });
  connection = nc;
  const publish = values.mode === "jetstream" ? jetStreamPublisher(nc) : corePublisher(nc);
  // Warm-up messages use their own correlations so the measured ones start clean.
  await publish(Number(values.warmup), 0x8000);
  report({ type: "ready" });
  if (values.go) {
    const command = await nextCommand();
    if (command !== "go") throw new Error(`expected "go", got "${command}"`);
  }
  const startMs = wallClockMs();
  await publish(count, 0);
  const endMs = wallClockMs();
  report({ type: "done", acked: count, startMs, endMs });
} catch (error) {
  report({ type: "error", message: error instanceof Error ? error.message : String(error) });
  process.exitCode = 1;
} finally {
  await connection?.close();
  closeCommands();
}

/** The correlation metadata of tagged event `index` (in id space `space + offset`) as headers. */
function headersOf(index: number, offset: number) {
  return natsCorrelationHeaders(taggedEnvelope(index, space + offset, values.name, subject).correlationMetadata!);
}

/** js.publish with `inFlight` calls in flight, each resolved by its PubAck. */
function jetStreamPublisher(nc: NatsConnection) {
  const js = jetstream(nc);
  return (total: number, offset: number) => timeInFlight(total, inFlight, (index) => js.publish(subject, benchPayload, { headers: headersOf(index, offset) }));
}

/** Core publish, flushed every `flushEvery` messages and at the end (the server has then read them all). */
function corePublisher(nc: NatsConnection) {
  return async (total: number, offset: number) => {
    for (let index = 0; index < total; index++) {
      nc.publish(subject, benchPayload, { headers: headersOf(index, offset) });
      if (index % flushEvery === flushEvery - 1) await nc.flush();
    }
    await nc.flush();
  };
}
