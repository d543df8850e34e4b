// Child process: a subscriber counting deliveries.
//   node subscriber.js --socket S --pattern P --expect N [--warmup W] [--name N] [--from-event-id I]
// (--from-event-id: replay stored events from I first, as a reconnecting subscriber does.)
// Prints {"type":"ready"} once the subscription is registered. The first W
// events are warm-up; it then times the next N from the first to the last
// arrival and prints {"type":"done", count, firstMs, lastMs} (wall-clock ms),
// or {"type":"error", …} if the broker ends the stream (e.g. a cut-off), or
// {"type":"stopped", …} with what it got when told "stop" on stdin.
import { parseArgs } from "node:util";
import { ConnectError } from "@connectrpc/connect";
import { createCorrelationClient } from "../../src/index.js";
import { wallClockMs } from "../call-timing.js";
import { closeCommands, nextCommand, report } from "../worker-channel.js";

const { values } = parseArgs({
  options: {
    socket: { type: "string" },
    pattern: { type: "string", default: "events.bench.fanout.#" },
    expect: { type: "string", default: "0" },
    warmup: { type: "string", default: "0" },
    name: { type: "string", default: "bench-subscriber" },
    "from-event-id": { type: "string" },
  },
});
const expected = Number(values.expect);
const warmup = Number(values.warmup);
const client = createCorrelationClient({ socketPath: values.socket, sourceProcess: values.name });
const fromEventId = values["from-event-id"];
const subscription = client.subscribe([values.pattern], fromEventId === undefined ? {} : { fromEventId: BigInt(fromEventId) });

let received = 0;
let count = 0;
let firstMs = 0;
let lastMs = 0;
let lastId = 0n;
const progress = () => ({ count, received, firstMs, lastMs, lastId });

nextCommand().then((command) => {
  if (command === "stop" || command === "") {
    report({ type: "stopped", ...progress() });
    subscription.close();
  }
});

try {
  await subscription.ready;
  report({ type: "ready" });
  for await (const event of subscription) {
    received++;
    lastId = event.eventId;
    if (received <= warmup) continue;
    lastMs = wallClockMs();
    if (count === 0) firstMs = lastMs;
    count++;
    if (count === expected) break;
  }
  if (count === expected) report({ type: "done", ...progress() });
} catch (error) {
  const connectError = ConnectError.from(error);
  report({ type: "error", code: connectError.code, message: connectError.rawMessage, ...progress() });
} finally {
  subscription.close();
  client.close();
  closeCommands();
}
