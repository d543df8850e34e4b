import { compressedFlag, encodeEnvelope, endStreamFlag } from "./connect-internals.js";

/**
 * Connect's streaming framing, shared by the lean PublishStream of the client
 * and of the broker: each message is an envelope of a flags byte, a 4-byte
 * big-endian length and the message (connect's own encodeEnvelope writes
 * it); the server's last one carries the end-of-stream flag and JSON (the
 * error, if any).
 */
export { compressedFlag, endStreamFlag };

/** `body` framed as a Connect envelope with `flags`. */
export function connectEnvelope(flags: number, body: Uint8Array): Uint8Array {
  return encodeEnvelope(flags, body);
}

/** Bytes of an envelope's head: the flags byte and the length. */
export const envelopeHeadBytes = 5;

/** The message length an envelope's head announces (`head` holds at least envelopeHeadBytes bytes). */
export function envelopeLength(head: Buffer): number {
  return head.readUInt32BE(1);
}

/** Resolves when a stream whose write answered false drains, or closes (then nothing more is written). */
export function drained(stream: { on(event: "drain" | "close", listener: () => void): unknown; off(event: "drain" | "close", listener: () => void): unknown }): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off("drain", done);
      stream.off("close", done);
      resolve();
    };
    stream.on("drain", done);
    stream.on("close", done);
  });
}
