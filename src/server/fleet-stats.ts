import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { ForwardStatsSchema, IngestStatsSchema } from "../../gen/corrbus/v1/service_pb.js";
import type { CorrelationBroker } from "../core/correlation-broker.js";
import type { ForwardStatsView } from "../fleet/journal-forwarder.js";
import type { IngestStatsView } from "../fleet/stream-ingester.js";

/** GetStats' fleet fields: forwarding and ingest, each unset when off. */
export type FleetStats = () => { forward?: MessageInitShape<typeof ForwardStatsSchema>; ingest?: MessageInitShape<typeof IngestStatsSchema> };

/** The wire form of the forwarder's and the ingester's figures, with the broker's per-host ingest. */
export function fleetStatsOf(forward: ForwardStatsView | undefined, ingest: IngestStatsView | undefined, broker: CorrelationBroker): ReturnType<FleetStats> {
  const out: ReturnType<FleetStats> = {};
  if (forward !== undefined) {
    out.forward = {
      servers: forward.servers,
      stream: forward.stream,
      subjectPrefix: forward.subjectPrefix,
      connected: forward.connected,
      ackedEventId: BigInt(forward.ackedEventId),
      lastAckAt: forward.lastAckMs === 0 ? undefined : timestampFromMs(forward.lastAckMs),
      lagEvents: BigInt(forward.lagEvents),
      lagMs: BigInt(forward.lagMs),
      published: BigInt(forward.published),
      acked: BigInt(forward.acked),
      duplicates: BigInt(forward.duplicates),
      inFlight: forward.inFlight,
      maxInFlight: forward.maxInFlight,
      reconnects: BigInt(forward.reconnects),
      publishErrors: BigInt(forward.publishErrors),
      eventsLost: BigInt(forward.eventsLost),
      segmentsLost: BigInt(forward.segmentsLost),
      eventsSkipped: BigInt(forward.eventsSkipped),
      factsAcked: BigInt(forward.factsAcked),
    };
  }
  if (ingest !== undefined) {
    const hosts = broker.stats().ingest;
    out.ingest = {
      servers: ingest.servers,
      stream: ingest.stream,
      consumer: ingest.consumer,
      connected: ingest.connected,
      received: BigInt(ingest.received),
      stored: BigInt(ingest.stored),
      duplicates: BigInt(ingest.duplicates),
      refused: BigInt(ingest.refused),
      pending: BigInt(ingest.pending),
      reconnects: BigInt(ingest.reconnects),
      consumerRestarts: BigInt(ingest.restarts),
      factsReceived: BigInt(ingest.factsReceived),
      hosts: hosts.hosts,
      maxHosts: hosts.maxHosts,
      hostsForgotten: BigInt(hosts.hostsForgotten),
      hostLags: broker.ingestedHosts().map((host) => ({
        hostId: host.hostId,
        events: BigInt(host.events),
        duplicates: BigInt(host.duplicates),
        lastOriginEventId: BigInt(host.lastOriginEventId),
        lastOriginReceivedAt: host.lastOriginReceivedMs === 0 ? undefined : timestampFromMs(host.lastOriginReceivedMs),
        lastIngestedAt: host.lastIngestedMs === 0 ? undefined : timestampFromMs(host.lastIngestedMs),
        lagMs: BigInt(Math.max(0, host.lastIngestedMs - host.lastOriginReceivedMs)),
      })),
    };
  }
  return out;
}
