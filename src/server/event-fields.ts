import { type Message, toBinary } from "@bufbuild/protobuf";
import { WireType } from "@bufbuild/protobuf/wire";
import { type HandlerContext, createContextKey } from "@connectrpc/connect";
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
 * Set by a path that can send an answer's stored events as it writes them
 * (the lean Connect path, see streamed-answer.ts): setStoredEvents then
 * leaves them to it instead of writing them all into the message first.
 */
export const streamsStoredEventsKey = createContextKey(false, { description: "answers stream their stored events" });

/** Stored events an answer sends after its message was made: its repeated field `fieldNo`, element by element, from history. */
export interface StreamedEvents {
  readonly fieldNo: number;
  readonly broker: CorrelationBroker;
  readonly ids: readonly number[];
  readonly omitPayloads: boolean;
}

/** Whether the call's path streams stored events (see streamsStoredEventsKey). */
export function streamsStoredEvents(context: HandlerContext): boolean {
  return context.values.get(streamsStoredEventsKey);
}

const streamedEvents = new WeakMap<Message, StreamedEvents>();

/** The stored events setStoredEvents left to the answer's path to stream (once: they are forgotten here). */
export function takeStreamedEvents(message: Message): StreamedEvents | undefined {
  const events = streamedEvents.get(message);
  streamedEvents.delete(message);
  return events;
}

/**
 * Puts stored events `ids` into `message`'s repeated field `fieldNo`, written
 * from history straight into the field's one buffer (ids no longer held are
 * left out). With payloads omitted each event is copied without its payload first.
 * When the call's path is `streamed`, the events are only noted for it to
 * write as it sends them (takeStreamedEvents).
 */
export function setStoredEvents<T extends Message>(
  message: T,
  fieldNo: number,
  broker: CorrelationBroker,
  ids: readonly number[],
  omitPayloads: boolean,
  streamed: boolean,
): T {
  if (streamed) {
    if (ids.length > 0) streamedEvents.set(message, { fieldNo, broker, ids, omitPayloads });
    return message;
  }
  if (omitPayloads) {
    const encodings: Uint8Array[] = [];
    for (const id of ids) {
      const encoded = broker.eventBytes(id, true);
      if (encoded !== undefined) encodings.push(encoded);
    }
    return appendRepeatedField(message, fieldNo, encodings);
  }
  const held: number[] = [];
  const sizes: number[] = [];
  for (const id of ids) {
    const size = broker.eventSize(id);
    if (size < 0) continue;
    held.push(id);
    sizes.push(size);
  }
  return appendEntry(
    message,
    fieldNo,
    repeatedField(fieldNo, sizes, (index, out, at) => broker.writeEvent(held[index], out, at)),
  );
}

/** Puts live `events` into `message`'s repeated field `fieldNo`, from the bytes they were accepted as. */
export function setLiveEvents<T extends Message>(message: T, fieldNo: number, events: readonly EventEnvelope[]): T {
  return appendRepeatedField(
    message,
    fieldNo,
    events.map((event) => encodingOf(event) ?? toBinary(EventEnvelopeSchema, event)),
  );
}

/** Puts `encodings` into `message`'s repeated field `fieldNo` (see repeatedField). */
function appendRepeatedField<T extends Message>(message: T, fieldNo: number, encodings: readonly Uint8Array[]): T {
  return appendEntry(
    message,
    fieldNo,
    repeatedField(
      fieldNo,
      encodings.map((encoded) => encoded.length),
      (index, out, at) => {
        out.set(encodings[index], at);
        return at + encodings[index].length;
      },
    ),
  );
}

/**
 * The whole repeated field as one unknown-field entry's bytes: protobuf-es
 * writes an entry's tag and then its bytes verbatim, so the bytes hold the
 * first element's length and value and then, for each further element, its
 * own tag, length and value. One buffer per answer instead of a
 * length-prefixed copy and an entry per event (those copies were much of the
 * garbage a busy subscriber made). `write` puts element `index` (of
 * `sizes[index]` bytes) at `at` and answers where it ends. Undefined when
 * there is no element.
 */
function repeatedField(fieldNo: number, sizes: readonly number[], write: (index: number, out: Buffer, at: number) => number): Buffer | undefined {
  if (sizes.length === 0) return undefined;
  const tag = (fieldNo << 3) | WireType.LengthDelimited;
  const tagSize = varintSize(tag);
  let size = -tagSize;
  for (const elementSize of sizes) size += tagSize + varintSize(elementSize) + elementSize;
  const data = Buffer.allocUnsafe(size);
  let at = 0;
  for (let index = 0; index < sizes.length; index++) {
    if (index > 0) at = writeVarint(data, at, tag);
    at = writeVarint(data, at, sizes[index]);
    at = write(index, data, at);
  }
  return data;
}

function appendEntry<T extends Message>(message: T, fieldNo: number, data: Uint8Array | undefined): T {
  if (data === undefined) return message;
  message.$unknown = [...(message.$unknown ?? []), { no: fieldNo, wireType: WireType.LengthDelimited, data }];
  return message;
}
