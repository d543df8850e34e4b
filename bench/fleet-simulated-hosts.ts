import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { EventEnvelopeSchema } from "../gen/corrbus/v1/envelope_pb.js";
import { eventSubject, messageId } from "../src/fleet/fleet-stream.js";
import { joinEnvelope, splitForStorage } from "../src/wire/stored-envelope.js";
import { eventsPerCorrelation, idSpace, matchingTags, taggedEnvelope } from "./bench-workload.js";

/** The stream and subject prefix the simulated hosts fill (apart from the forwarded hosts' stream). */
export const simulatedStream = { stream: "BENCH_FLEET_HOSTS", subjectPrefix: "benchhosts" } as const;

/** Topic of every simulated host's events. */
const simulatedTopic = "events.bench.fleet.observed";

/** Host id of simulated host `host` (a NATS subject token, as host ids are). */
export function simulatedHostId(host: number): string {
  return `sim-host-${host}`;
}

/** One message as a host's forwarder publishes it. */
export interface ForwardedMessage {
  subject: string;
  msgId: string;
  bytes: Uint8Array;
}

/**
 * Event `index` (0-based) of simulated host `host`, each host holding
 * `eventsPerHost`: the bench's tagged event number `host × eventsPerHost +
 * index` (correlations of 100 events, investigation_id INC-<correlation % 100>),
 * stamped as the host's broker stamps it (its host id, event id `index + 1`,
 * a receive time) and encoded as its journal stores it (splitForStorage,
 * joinEnvelope), on the subject and with the Nats-Msg-Id the forwarder gives
 * it (eventSubject, messageId): what JetStream would hold from a real host.
 * With 100 events per correlation, `matchingTags` matches 1 % of the fleet's
 * events and, with a host filter, the 100 events of one correlation of host 0.
 */
export function simulatedHostEvent(host: number, index: number, eventsPerHost: number): ForwardedMessage {
  const envelope = taggedEnvelope(host * eventsPerHost + index, idSpace.fleet, `sim-collector-${host}`, simulatedTopic);
  const hostId = simulatedHostId(host);
  const eventId = index + 1;
  const stamped = create(EventEnvelopeSchema, { ...envelope, hostId, eventId: BigInt(eventId), receivedAt: timestampFromMs(Date.now()) });
  return {
    subject: eventSubject(simulatedStream.subjectPrefix, hostId, simulatedTopic),
    msgId: messageId(hostId, eventId),
    bytes: joinEnvelope(splitForStorage(stamped)),
  };
}

/**
 * Events of the simulated fleet `matchingTags` matches: per host, the
 * correlations c with (host × correlationsPerHost + c) % 100 = 0.
 */
export function simulatedMatches(hosts: number, eventsPerHost: number, onlyHost?: number): number {
  const correlationsPerHost = Math.floor(eventsPerHost / eventsPerCorrelation);
  const investigation = Number(matchingTags.investigation_id.replace("INC-", ""));
  let matches = 0;
  for (let host = 0; host < hosts; host++) {
    if (onlyHost !== undefined && host !== onlyHost) continue;
    for (let correlation = 0; correlation < correlationsPerHost; correlation++) {
      if ((host * correlationsPerHost + correlation) % 100 === investigation) matches += eventsPerCorrelation;
    }
  }
  return matches;
}
