import * as http2 from "node:http2";
import { varintSize, writeVarint } from "../wire/varint.js";
import type { StreamedEvents } from "./event-fields.js";
import { answer } from "./raw-unary.js";

/** The first chunk's size: a page of 100 events (~50 KB) goes in one, a larger answer starts reaching the client early. */
const firstChunkBytes = 64 * 1024;
/** Chunks double up to this. */
const largestChunkBytes = 256 * 1024;
/** Written but not yet sent, past which the next chunk waits for the stream to drain: a client's stream window (1 MiB) and a chunk. */
const mostBufferedBytes = 1024 * 1024 + largestChunkBytes;

/**
 * Answers 200 with a query's stored events first, chunk by chunk as they are
 * written from history, and then `rest` (the message's other fields). HTTP/2
 * sends what a stream was given only once the event loop turns, so a 10 K
 * event answer made in one go reached the client in one burst, after all of
 * it was written, and the client decoded it only then; between chunks the
 * broker yields, each chunk goes out, and the client decodes it while the
 * broker writes the next (LeadingRunDecoder on the client). Fields may come
 * in any order on the wire and repeated ones are appended in the order they
 * come, so the events first and the rest after is the same message. An event
 * evicted from history between two chunks is left out, as one evicted before
 * the answer was made is.
 */
export function answerWithStreamedEvents(stream: http2.ServerHttp2Stream, events: StreamedEvents, rest: readonly Uint8Array[]): void {
  if (stream.destroyed || stream.closed) return;
  stream.respond({ ":status": 200, "content-type": "application/proto" });
  const source = events.omitPayloads ? withoutPayloads(events) : withPayloads(events);
  const tag = (events.fieldNo << 3) | 2;
  const tagSize = varintSize(tag);
  let index = 0;
  let chunkBytes = firstChunkBytes;
  const sizes: number[] = [];
  const next = () => {
    if (stream.destroyed || stream.closed) return;
    try {
      const first = index;
      let size = 0;
      sizes.length = 0;
      while (index < events.ids.length && size < chunkBytes) {
        const eventSize = source.measure(index++);
        sizes.push(eventSize);
        if (eventSize >= 0) size += tagSize + varintSize(eventSize) + eventSize;
      }
      const chunk = Buffer.allocUnsafe(size);
      let at = 0;
      for (let offset = 0; offset < sizes.length; offset++) {
        if (sizes[offset] < 0) continue;
        at = writeVarint(chunk, at, tag);
        at = writeVarint(chunk, at, sizes[offset]);
        at = source.write(first + offset, chunk, at);
      }
      if (index < events.ids.length) {
        chunkBytes = Math.min(largestChunkBytes, chunkBytes * 2);
        stream.write(chunk);
        // A client that reads slowly holds the next chunk back, so the broker does not buffer its whole answer for it.
        if (stream.writableLength > mostBufferedBytes) stream.once("drain", next);
        else setImmediate(next);
        return;
      }
      answer(stream, [chunk, ...rest], true);
    } catch {
      // Half an answer cannot become an error any more: the client sees the stream reset.
      stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    }
  };
  next();
}

/** An answer's events one by one: `measure` their size (-1: no longer held), then `write` them. */
interface EventSource {
  measure(index: number): number;
  write(index: number, out: Buffer, at: number): number;
}

function withPayloads({ broker, ids }: StreamedEvents): EventSource {
  return {
    measure: (index) => broker.eventSize(ids[index]),
    write: (index, out, at) => broker.writeEvent(ids[index], out, at),
  };
}

function withoutPayloads({ broker, ids }: StreamedEvents): EventSource {
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
