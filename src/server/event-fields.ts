import { type Message, toBinary } from "@bufbuild/protobuf";
import { WireType } from "@bufbuild/protobuf/wire";
import type { HandlerContext } from "@connectrpc/connect";
import { type EventEnvelope, EventEnvelopeSchema } from "../../gen/corrbus/v1/envelope_pb.js";
import { encodingOf, lengthPrefixed } from "../core/encoded-events.js";
import type { CorrelationBroker } from "../core/correlation-broker.js";

/**
 * Events in answers without encoding them again. For binary protocols (gRPC,
 * Connect proto) a repeated EventEnvelope field is filled with the bytes each
 * event already has — encoded once when it was accepted, or read from history
 * — as the message's unknown fields, which protobuf-es writes out verbatim:
 * on the wire that is exactly the repeated field. JSON needs decoded events.
 */
export function answersInBinary(context: HandlerContext): boolean {
  return !(context.requestHeader.get("content-type") ?? "").includes("json");
}

/** Puts stored events `ids` into `message`'s repeated field `fieldNo`, from their stored bytes. */
export function setStoredEvents<T extends Message>(message: T, fieldNo: number, broker: CorrelationBroker, ids: readonly number[], omitPayloads: boolean): T {
  const fields = message.$unknown ?? [];
  for (const id of ids) {
    const encoded = broker.eventBytes(id, omitPayloads);
    if (encoded !== undefined) fields.push({ no: fieldNo, wireType: WireType.LengthDelimited, data: lengthPrefixed(encoded) });
  }
  message.$unknown = fields;
  return message;
}

/** Puts live `events` into `message`'s repeated field `fieldNo`, from the bytes they were accepted as. */
export function setLiveEvents<T extends Message>(message: T, fieldNo: number, events: readonly EventEnvelope[]): T {
  const fields = message.$unknown ?? [];
  for (const event of events) {
    const data = lengthPrefixed(encodingOf(event) ?? toBinary(EventEnvelopeSchema, event));
    fields.push({ no: fieldNo, wireType: WireType.LengthDelimited, data });
  }
  message.$unknown = fields;
  return message;
}
