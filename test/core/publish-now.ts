import type { EventEnvelope } from "../../gen/corrbus/v1/envelope_pb.js";
import type { PeerIdentity, PublishResult } from "../../src/core/broker-ports.js";
import type { CorrelationBroker } from "../../src/core/correlation-broker.js";

/**
 * Publishes one envelope at once, as `submit` does on a broker without a
 * journal but synchronously, so tests read the outcome on the next line.
 */
export function publishNow(broker: CorrelationBroker, envelope: EventEnvelope, peer: PeerIdentity): PublishResult {
  return publishBatchNow(broker, [envelope], peer, false)[0];
}

/** `publishNow` for a batch, atomically: every envelope is checked before any is accepted. */
export function publishBatchNow(broker: CorrelationBroker, envelopes: readonly EventEnvelope[], peer: PeerIdentity, asBatch = true): PublishResult[] {
  return broker.commit(broker.accept(envelopes, peer, asBatch));
}
