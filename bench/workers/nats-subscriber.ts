// Child process: a NATS subscriber counting messages, the counterpart of subscriber.ts.
//   node nats-subscriber.js --server URL --mode core|ordered (--subject S | --stream N) --expect N [--warmup W] [--name N]
//   core: a NATS core subscription to S; ready once the server has it.
//   ordered: a JetStream ordered consumer replaying stream N from its start
//     (consume() with the client's defaults), as a new subscriber does.
// The first W messages are warm-up; it then times the next N from the first
// to the last arrival and prints {"type":"done", count, firstMs, lastMs}
// (wall-clock ms), {"type":"error", …}, or {"type":"stopped", …} with what it
// got when told "stop" on stdin.
import { parseArgs } from "node:util";
import { jetstream } from "@nats-io/jetstream";
import { type NatsConnection, connect } from "@nats-io/transport-node";
import { wallClockMs } from "../call-timing.js";
import { closeCommands, nextCommand, report } from "../worker-channel.js";

const { values } = parseArgs({
  options: {
    server: { type: "string" },
    mode: { type: "string", default: "core" },
    subject: { type: "string", default: "bench.fanout.>" },
    stream: { type: "string", default: "BENCH" },
    expect: { type: "string", default: "0" },
    warmup: { type: "string", default: "0" },
    name: { type: "string", default: "bench-nats-subscriber" },
  },
});
const expected = Number(values.expect);
const warmup = Number(values.warmup);

let received = 0;
let count = 0;
let firstMs = 0;
let lastMs = 0;
let withoutHeaders = 0;
const progress = () => ({ count, received, firstMs, lastMs, withoutHeaders });

let connection: NatsConnection | undefined;
let stop: () => void = () => {};
nextCommand().then((command) => {
  if (command === "stop" || command === "") {
    report({ type: "stopped", ...progress() });
    stop();
  }
});

try {
  const nc = await connect({ servers: values.server, name: values.name });
  connection = nc;
  let messages: AsyncIterable<{ headers?: unknown }>;
  if (values.mode === "ordered") {
    const consumer = await jetstream(nc).consumers.get(values.stream);
    const consumed = await consumer.consume();
    stop = () => void consumed.close();
    messages = consumed;
  } else {
    const subscription = nc.subscribe(values.subject);
    stop = () => subscription.unsubscribe();
    messages = subscription;
    await nc.flush();
  }
  report({ type: "ready" });
  for await (const message of messages) {
    received++;
    if (received <= warmup) continue;
    // nats.js parses headers when they are read: reading them is part of receiving the metadata, as decoding the envelope is for corrbus.
    if (message.headers === undefined) withoutHeaders++;
    lastMs = wallClockMs();
    if (count === 0) firstMs = lastMs;
    count++;
    if (count === expected) break;
  }
  if (count === expected) report({ type: "done", ...progress() });
} catch (error) {
  report({ type: "error", message: error instanceof Error ? error.message : String(error), ...progress() });
} finally {
  stop();
  await connection?.close();
  closeCommands();
}
