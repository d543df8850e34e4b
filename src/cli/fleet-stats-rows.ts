import type { GetStatsResponse } from "../../gen/corrbus/v1/service_pb.js";
import { formatTime } from "./human-format.js";

type Section = [title: string, rows: [string, string][]];

/** `corrbus stats` sections for forwarding and ingest, present only when the broker runs them. */
export function fleetSections(stats: GetStatsResponse): Section[] {
  const sections: Section[] = [];
  const forward = stats.forward;
  if (forward !== undefined) {
    sections.push([
      "forward",
      [
        ["to", `${forward.servers} stream ${forward.stream} (${forward.subjectPrefix}.${stats.hostId}.<topic>)`],
        ["connected", forward.connected ? "yes" : "no"],
        ["acked event_id", String(forward.ackedEventId)],
        ["last ack", forward.lastAckAt === undefined ? "never" : formatTime(forward.lastAckAt)],
        ["lag", `${forward.lagEvents} events, ${Number(forward.lagMs) / 1000} s`],
        ["published", `${forward.published} (acked ${forward.acked}, duplicates ${forward.duplicates})`],
        ["in flight", `${forward.inFlight} of ${forward.maxInFlight}`],
        ["reconnects", String(forward.reconnects)],
        ["publish errors", String(forward.publishErrors)],
        ["lost", `${forward.eventsLost} events in ${forward.segmentsLost} segments (past the backlog bound or retention)`],
        ["not forwarded (control.#)", String(forward.eventsSkipped)],
        ["workflow facts acked", String(forward.factsAcked)],
      ],
    ]);
  }
  const ingest = stats.ingest;
  if (ingest !== undefined) {
    sections.push([
      "ingest",
      [
        ["from", `${ingest.servers} stream ${ingest.stream} consumer ${ingest.consumer}`],
        ["connected", ingest.connected ? "yes" : "no"],
        ["received", String(ingest.received)],
        ["stored", String(ingest.stored)],
        ["duplicates", String(ingest.duplicates)],
        ["refused", String(ingest.refused)],
        ["pending in the stream", String(ingest.pending)],
        ["reconnects", String(ingest.reconnects)],
        ["consumer restarts", String(ingest.consumerRestarts)],
        ["workflow facts (kept in the stream)", String(ingest.factsReceived)],
        ["hosts", `${ingest.hosts} of ${ingest.maxHosts} (forgotten ${ingest.hostsForgotten})`],
        ...ingest.hostLags.map((host): [string, string] => [
          `  ${host.hostId}`,
          `${host.events} events, last origin event_id ${host.lastOriginEventId}, lag ${Number(host.lagMs) / 1000} s`,
        ]),
      ],
    ]);
  }
  return sections;
}
