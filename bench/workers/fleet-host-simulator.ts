// Child process: simulated hosts forwarding into the fleet's JetStream stream.
//   node fleet-host-simulator.js --server URL --first-host F --hosts C --events-per-host E [--in-flight K]
// Publishes the events of hosts F … F+C-1 as their forwarders would
// (fleet-simulated-hosts.ts), the hosts taking turns event by event as hosts
// forwarding at once do, K js.publish calls in flight, each acked. Ends with
// {"type":"done", acked, duplicates, bytes, startMs, endMs} (wall-clock ms) or
// {"type":"error", message}.
import { parseArgs } from "node:util";
import { jetstream } from "@nats-io/jetstream";
import { type NatsConnection, connect } from "@nats-io/transport-node";
import { timeInFlight, wallClockMs } from "../call-timing.js";
import { simulatedHostEvent } from "../fleet-simulated-hosts.js";
import { report } from "../worker-channel.js";

const { values } = parseArgs({
  options: {
    server: { type: "string" },
    "first-host": { type: "string", default: "0" },
    hosts: { type: "string", default: "1" },
    "events-per-host": { type: "string", default: "0" },
    "in-flight": { type: "string", default: "256" },
  },
});

const firstHost = Number(values["first-host"]);
const hosts = Number(values.hosts);
const eventsPerHost = Number(values["events-per-host"]);

let connection: NatsConnection | undefined;
try {
  const nc = await connect({ servers: values.server, name: `bench-simulated-hosts-${firstHost}` });
  connection = nc;
  const js = jetstream(nc);
  let duplicates = 0;
  let bytes = 0;
  const startMs = wallClockMs();
  await timeInFlight(hosts * eventsPerHost, Number(values["in-flight"]), async (n) => {
    const message = simulatedHostEvent(firstHost + (n % hosts), Math.floor(n / hosts), eventsPerHost);
    bytes += message.bytes.length;
    const ack = await js.publish(message.subject, message.bytes, { msgID: message.msgId, timeout: 10_000 });
    if (ack.duplicate) duplicates++;
  });
  const endMs = wallClockMs();
  report({ type: "done", acked: hosts * eventsPerHost, duplicates, bytes, startMs, endMs });
} catch (error) {
  report({ type: "error", message: error instanceof Error ? error.message : String(error) });
  process.exitCode = 1;
} finally {
  await connection?.close();
}
