import { fromBinary } from "@bufbuild/protobuf";
import { type EventEnvelope, EventEnvelopeSchema } from "../../gen/corrbus/v1/envelope_pb.js";

const decoder = new TextDecoder();

/** Decodes a stored (encoded) envelope. */
export function decodeStoredEnvelope(bytes: Uint8Array): EventEnvelope {
  return fromBinary(EventEnvelopeSchema, bytes);
}

/**
 * Reads the topic of an encoded envelope without decoding the rest: a filter
 * by topic over many stored events then costs a few bytes each. Falls back to
 * a full decode when field 1 is not where protobuf-es writes it (first).
 */
export function peekTopic(bytes: Uint8Array): string {
  // Field 1, wire type 2 (length-delimited): tag byte 0x0a.
  if (bytes.length > 1 && bytes[0] === 0x0a) {
    let length = 0;
    let shift = 0;
    let index = 1;
    while (index < bytes.length && shift < 35) {
      const byte = bytes[index++];
      length |= (byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) {
        if (index + length <= bytes.length) return decoder.decode(bytes.subarray(index, index + length));
        break;
      }
      shift += 7;
    }
  }
  return decodeStoredEnvelope(bytes).topic;
}
