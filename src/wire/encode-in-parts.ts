import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import type { MessageEncoder } from "./message-encoder.js";
import { varintSize, writeVarint } from "./varint.js";

/** Below this, a last unknown field is copied into the encoding like the rest. */
const defaultApartFromBytes = 64 * 1024;

/**
 * `message`'s encoding as parts to send one after another: the encoder's
 * bytes, but with a large last unknown field left out of them and following
 * as its own part. The compiled encoder writes unknown fields last, each as
 * its tag and then its bytes verbatim, so the parts joined are exactly its
 * encoding. An answer carrying many stored events keeps them in one unknown
 * field (event-fields.ts): sent this way, they are not copied into a second
 * buffer as large as themselves (5 MB for a 10 K-event timeline).
 */
export function encodeInParts<Desc extends DescMessage>(
  encoder: MessageEncoder<Desc>,
  message: MessageShape<Desc>,
  apartFromBytes = defaultApartFromBytes,
): Uint8Array[] {
  const unknown = message.$unknown;
  const last = unknown?.[unknown.length - 1];
  if (unknown === undefined || last === undefined || last.data.length < apartFromBytes) return [encoder.encode(message)];
  const head = encoder.encode({ ...message, $unknown: unknown.slice(0, -1) });
  const tag = last.no * 8 + last.wireType;
  const withTag = Buffer.allocUnsafe(head.length + varintSize(tag));
  withTag.set(head, 0);
  writeVarint(withTag, head.length, tag);
  return [withTag, last.data];
}
