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

/** One Connect envelope read off a stream. */
export interface ConnectEnvelope {
  flags: number;
  data: Buffer;
}

/**
 * Cuts a stream's bytes into Connect envelopes, for the client's and the
 * broker's lean PublishStream alike. Received chunks are joined only once a
 * whole envelope is there: a large message arriving in many chunks is copied
 * once, not once per chunk.
 */
export class EnvelopeSplitter {
  private chunks: Buffer[] = [];
  /** Bytes received and not yet taken as envelopes. */
  buffered = 0;

  constructor(
    /** Largest message accepted: a head announcing more makes next() throw MessageTooLargeError. */
    private readonly readMaxBytes = Number.POSITIVE_INFINITY,
  ) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /** The next whole envelope, or undefined until more bytes come. */
  next(): ConnectEnvelope | undefined {
    if (this.buffered < headBytes) return undefined;
    const head = this.chunks[0].length >= headBytes ? this.chunks[0] : this.join();
    const length = head.readUInt32BE(1);
    if (length > this.readMaxBytes) throw new MessageTooLargeError(length, this.readMaxBytes);
    if (this.buffered < headBytes + length) return undefined;
    const bytes = this.join();
    const rest = bytes.subarray(headBytes + length);
    this.chunks = rest.length === 0 ? [] : [rest];
    this.buffered = rest.length;
    return { flags: bytes[0], data: bytes.subarray(headBytes, headBytes + length) };
  }

  private join(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks, this.buffered)];
    return this.chunks[0];
  }
}

/** An envelope's head announced a message over the reader's limit. */
export class MessageTooLargeError extends Error {
  constructor(
    readonly size: number,
    readonly limit: number,
  ) {
    super(`message size ${size} is larger than configured readMaxBytes ${limit}`);
    this.name = "MessageTooLargeError";
  }
}

/** The flags byte and the 4-byte length. */
const headBytes = 5;

/** Resolves when a stream whose write answered false drains, or closes (then nothing more is written). */
export function drained(stream: {
  on(event: "drain" | "close", listener: () => void): unknown;
  off(event: "drain" | "close", listener: () => void): unknown;
}): Promise<void> {
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
