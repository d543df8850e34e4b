import { type Message, toBinary } from "@bufbuild/protobuf";
import { WireType } from "@bufbuild/protobuf/wire";
import type { HandlerContext } from "@connectrpc/connect";
import { type EventEnvelope, EventEnvelopeSchema } from "../../gen/corrbus/v1/envelope_pb.js";
import { encodingOf } from "../wire/encoded-events.js";
import { varintSize, writeVarint } from "../wire/varint.js";
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

/**
 * Puts stored events `ids` into `message`'s repeated field `fieldNo`, written
 * from history straight into the field's one buffer (ids no longer held are
 * left out). With payloads omitted each event is copied without its payload first.
 */
export function setStoredEvents<T extends Message>(message: T, fieldNo: number, broker: CorrelationBroker, ids: readonly number[], omitPayloads: boolean): T {
  if (omitPayloads) {
    const encodings: Uint8Array[] = [];
    for (const id of ids) {
      const encoded = broker.eventBytes(id, true);
      if (encoded !== undefined) encodings.push(encoded);
    }
    return appendRepeatedField(message, fieldNo, encodings);
  }
  const tagSize = varintSize(repeatedTag(fieldNo));
  const sizes = new Array<number>(ids.length);
  let size = -tagSize;
  let held = 0;
  for (let index = 0; index < ids.length; index++) {
    const eventSize = broker.eventSize(ids[index]);
    sizes[index] = eventSize;
    if (eventSize < 0) continue;
    size += tagSize + varintSize(eventSize) + eventSize;
    held++;
  }
  if (held === 0) return message;
  const data = Buffer.allocUnsafe(size);
  let at = 0;
  for (let index = 0, written = 0; index < ids.length; index++) {
    if (sizes[index] < 0) continue;
    if (written++ > 0) at = writeVarint(data, at, repeatedTag(fieldNo));
    at = writeVarint(data, at, sizes[index]);
    at = broker.writeEvent(ids[index], data, at);
  }
  return appendEntry(message, fieldNo, data);
}

/** Puts live `events` into `message`'s repeated field `fieldNo`, from the bytes they were accepted as. */
export function setLiveEvents<T extends Message>(message: T, fieldNo: number, events: readonly EventEnvelope[]): T {
  return appendRepeatedField(
    message,
    fieldNo,
    events.map((event) => encodingOf(event) ?? toBinary(EventEnvelopeSchema, event)),
  );
}

/**
 * The whole repeated field as one unknown-field entry: protobuf-es writes an
 * entry's tag and then its bytes verbatim, so the bytes hold the first
 * element's length and value and then, for each further element, its own tag,
 * length and value. One buffer per answer instead of a length-prefixed copy
 * and an entry per event (those copies were much of the garbage a busy
 * subscriber made).
 */
function appendRepeatedField<T extends Message>(message: T, fieldNo: number, encodings: readonly Uint8Array[]): T {
  if (encodings.length === 0) return message;
  const tag = repeatedTag(fieldNo);
  const tagSize = varintSize(tag);
  let size = -tagSize;
  for (const encoded of encodings) size += tagSize + varintSize(encoded.length) + encoded.length;
  const data = Buffer.allocUnsafe(size);
  let at = 0;
  for (let index = 0; index < encodings.length; index++) {
    const encoded = encodings[index];
    if (index > 0) at = writeVarint(data, at, tag);
    at = writeVarint(data, at, encoded.length);
    data.set(encoded, at);
    at += encoded.length;
  }
  return appendEntry(message, fieldNo, data);
}

function appendEntry<T extends Message>(message: T, fieldNo: number, data: Uint8Array): T {
  message.$unknown = [...(message.$unknown ?? []), { no: fieldNo, wireType: WireType.LengthDelimited, data }];
  return message;
}

function repeatedTag(fieldNo: number): number {
  return (fieldNo << 3) | WireType.LengthDelimited;
}
