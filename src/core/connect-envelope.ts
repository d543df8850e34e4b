/**
 * Connect's streaming framing, shared by the lean PublishStream of the client
 * and of the broker: each message is an envelope of a flags byte, a 4-byte
 * big-endian length and the message; the server's last one carries the
 * end-of-stream flag and JSON (the error, if any).
 */

/** Flag of an envelope whose message is compressed. */
export const compressedFlag = 0b01;
/** Flag of the end-of-stream envelope. */
export const endStreamFlag = 0b10;

/** `body` framed as a Connect envelope with `flags`. */
export function connectEnvelope(flags: number, body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + body.length);
  out[0] = flags;
  out.writeUInt32BE(body.length, 1);
  out.set(body, 5);
  return out;
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
