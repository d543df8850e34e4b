import { type MsgHdrs, headers } from "@nats-io/transport-node";
import type { CorrelationMetadata } from "../gen/corrbus/v1/correlation_pb.js";

/**
 * The correlation metadata of a corrbus event as NATS message headers, so a
 * NATS message of the comparison carries what the corrbus envelope carries:
 * ids, sequence number, stage, source, final flag and one header per tag.
 * NATS has no correlation semantics; the headers are only carried.
 */
export function natsCorrelationHeaders(metadata: CorrelationMetadata): MsgHdrs {
  const result = headers();
  result.set("Corrbus-Correlation-Id", metadata.correlationId);
  if (metadata.parentCorrelationId) result.set("Corrbus-Parent-Correlation-Id", metadata.parentCorrelationId);
  result.set("Corrbus-Root-Correlation-Id", metadata.rootCorrelationId);
  result.set("Corrbus-Sequence", String(metadata.sequenceNumber));
  result.set("Corrbus-Stage", metadata.workflowStage);
  result.set("Corrbus-Source", metadata.sourceProcess);
  if (metadata.final) result.set("Corrbus-Final", "true");
  for (const [key, value] of Object.entries(metadata.correlationTags)) result.set(`Corrbus-Tag-${key}`, value);
  return result;
}
