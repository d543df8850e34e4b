// Child process: simulated hosts forwarding into the fleet's JetStream stream.
//   node fleet-host-simulator.js --server URL --first-host F --hosts C --events-per-host E [--in-flight K]
// Publishes the events of hosts F … F+C-1 as their forwarders would
// (fleet-simulated-hosts.ts: subject, Nats-Msg-Id header, journaled bytes),
// the hosts taking turns event by event as hosts forwarding at once do, with
// the forwarder's PubAckPipeline, at most K awaiting their PubAck.
// Ends with {"type":"done", acked, duplicates, bytes, startMs, endMs}
// (wall-clock ms) or {"type":"error", message}.
import { parseArgs } from "node:util";
import { type NatsConnection, connect } from "@nats-io/transport-node";
import { PubAckPipeline } from "../../src/fleet/pub-ack-pipeline.js";
import { wallClockMs } from "../call-timing.js";
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
const inFlight = Number(values["in-flight"]);
const total = hosts * eventsPerHost;
/** Longest a message waits for its PubAck: past it JetStream has stopped answering. */
const stallMs = 10_000;

let connection: NatsConnection | undefined;
try {
  const nc = await connect({ servers: values.server, name: `bench-simulated-hosts-${firstHost}` });
  connection = nc;
  // The forwarder's own way of publishing: PubAcks on one wildcard subscription, not a request per message.
  const pipeline = new PubAckPipeline(nc, stallMs);
  let acked = 0;
  let duplicates = 0;
  let failure: string | undefined;
  let wake: (() => void) | undefined;
  let bytes = 0;
  const startMs = wallClockMs();
  for (let sent = 0; sent < total && failure === undefined; sent++) {
    while (sent - acked >= inFlight && failure === undefined) await nextAck();
    const message = simulatedHostEvent(firstHost + (sent % hosts), Math.floor(sent / hosts), eventsPerHost);
    pipeline.publish(message.subject, message.bytes, message.msgId).then(
      (ack) => {
        if (ack.duplicate) duplicates++;
        acked++;
        wake?.();
      },
      (error: Error) => {
        failure ??= error.message;
        acked++;
        wake?.();
      },
    );
    bytes += message.bytes.length;
  }
  while (acked < total && failure === undefined) await nextAck();
  const endMs = wallClockMs();
  pipeline.close();
  if (failure !== undefined) throw new Error(`JetStream refused a message: ${failure}`);
  report({ type: "done", acked, duplicates, bytes, startMs, endMs });

  function nextAck(): Promise<void> {
    return new Promise<void>((resolve) => {
      wake = () => {
        wake = undefined;
        resolve();
      };
    });
  }
} catch (error) {
  report({ type: "error", message: error instanceof Error ? error.message : String(error) });
  process.exitCode = 1;
} finally {
  await connection?.close();
}
