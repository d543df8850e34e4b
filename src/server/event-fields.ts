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
  const source = storedEventSource(broker, ids, omitPayloads);
  const sizes = ids.map((_, index) => source.measure(index));
  return appendEntry(message, fieldNo, repeatedField(fieldNo, sizes, source.write, false));
}

/** Stored events one by one: `measure` an event's size (-1: no longer held), then `write` it where the answer has room for it. */
export interface StoredEventSource {
  measure(index: number): number;
  write(index: number, out: Buffer, at: number): number;
}

/** Stored events `ids` as a StoredEventSource, written from history, or copied without their payloads. */
export function storedEventSource(broker: CorrelationBroker, ids: readonly number[], omitPayloads: boolean): StoredEventSource {
  if (!omitPayloads) {
    return {
      measure: (index) => broker.eventSize(ids[index]),
      write: (index, out, at) => broker.writeEvent(ids[index], out, at),
    };
  }
  // Each event is copied without its payload when measured, and that copy written.
  const copies = new Map<number, Uint8Array>();
  return {
    measure(index) {
      const copy = broker.eventBytes(ids[index], true);
      if (copy === undefined) return -1;
      copies.set(index, copy);
      return copy.length;
    },
    write(index, out, at) {
      const copy = copies.get(index) as Uint8Array;
      copies.delete(index);
      out.set(copy, at);
      return at + copy.length;
    },
  };
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
      false,
    ),
  );
}

/**
 * Elements of the repeated field `fieldNo` one after another in one buffer,
 * each with its tag and length. As an unknown-field entry's bytes (`firstTag`
 * false) the first tag is left out: protobuf-es writes an entry's tag and then
 * its bytes verbatim. One buffer per answer instead of a length-prefixed copy
 * and an entry per event (those copies were much of the garbage a busy
 * subscriber made). `write` puts element `index` (of `sizes[index]` bytes) at
 * `at` and answers where it ends; an element of size -1 is left out.
 * Undefined when no element is.
 */
export function repeatedField(
  fieldNo: number,
  sizes: readonly number[],
  write: (index: number, out: Buffer, at: number) => number,
  firstTag: boolean,
): Buffer | undefined {
  const tag = (fieldNo << 3) | WireType.LengthDelimited;
  const tagSize = varintSize(tag);
  let size = firstTag ? 0 : -tagSize;
  let elements = 0;
  for (const elementSize of sizes) {
    if (elementSize < 0) continue;
    size += tagSize + varintSize(elementSize) + elementSize;
    elements++;
  }
  if (elements === 0) return undefined;
  const data = Buffer.allocUnsafe(size);
  let at = 0;
  let written = 0;
  for (let index = 0; index < sizes.length; index++) {
    if (sizes[index] < 0) continue;
    if (firstTag || written++ > 0) at = writeVarint(data, at, tag);
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
