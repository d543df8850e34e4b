// Child process: simulated hosts forwarding into the fleet's JetStream stream.
//   node fleet-host-simulator.js --server URL --first-host F --hosts C --events-per-host E [--in-flight K]
// Publishes the events of hosts F … F+C-1 as their forwarders would
// (fleet-simulated-hosts.ts: subject, Nats-Msg-Id header, journaled bytes),
// the hosts taking turns event by event as hosts forwarding at once do. Each
// message asks JetStream for its PubAck on one reply subject, at most K
// awaiting theirs: the forwarder's js.publish makes a request (an inbox, a
// timer, a promise) per message, which cost this process ~0.1 ms a message
// and made it, not nats-server, the limit of a 1 M-event fill.
// Ends with {"type":"done", acked, duplicates, bytes, startMs, endMs}
// (wall-clock ms) or {"type":"error", message}.
import { parseArgs } from "node:util";
import { PubHeaders } from "@nats-io/jetstream";
import { type NatsConnection, connect, createInbox, headers } from "@nats-io/transport-node";
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
/** Longest without a PubAck while some are awaited: JetStream has stopped answering. */
const stallMs = 10_000;

let connection: NatsConnection | undefined;
try {
  const nc = await connect({ servers: values.server, name: `bench-simulated-hosts-${firstHost}` });
  connection = nc;
  const inbox = createInbox();
  let acked = 0;
  let duplicates = 0;
  let failure: string | undefined;
  let wake: (() => void) | undefined;
  const decoder = new TextDecoder();
  nc.subscribe(inbox, {
    callback: (error, message) => {
      const ack = error === null ? (JSON.parse(decoder.decode(message.data)) as { error?: { description?: string }; duplicate?: boolean }) : undefined;
      if (error !== null || ack?.error !== undefined) failure ??= error?.message ?? ack?.error?.description ?? "PubAck error";
      else if (ack?.duplicate) duplicates++;
      acked++;
      wake?.();
    },
  });
  await nc.flush();
  let bytes = 0;
  const startMs = wallClockMs();
  for (let sent = 0; sent < total && failure === undefined; sent++) {
    while (sent - acked >= inFlight && failure === undefined) await ackOrStall();
    const message = simulatedHostEvent(firstHost + (sent % hosts), Math.floor(sent / hosts), eventsPerHost);
    const header = headers();
    header.set(PubHeaders.MsgIdHdr, message.msgId);
    nc.publish(message.subject, message.bytes, { headers: header, reply: inbox });
    bytes += message.bytes.length;
  }
  while (acked < total && failure === undefined) await ackOrStall();
  const endMs = wallClockMs();
  if (failure !== undefined) throw new Error(`JetStream refused a message: ${failure}`);
  report({ type: "done", acked, duplicates, bytes, startMs, endMs });

  async function ackOrStall(): Promise<void> {
    const before = acked;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, stallMs);
      wake = () => {
        clearTimeout(timer);
        wake = undefined;
        resolve();
      };
    });
    if (acked === before) failure ??= `no PubAck for ${stallMs} ms (${acked} of ${total} acked)`;
  }
} catch (error) {
  report({ type: "error", message: error instanceof Error ? error.message : String(error) });
  process.exitCode = 1;
} finally {
  await connection?.close();
}
