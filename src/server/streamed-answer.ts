import * as http2 from "node:http2";
import { type StreamedEvents, repeatedField, storedEventSource } from "./event-fields.js";
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
  const source = storedEventSource(events.broker, events.ids, events.omitPayloads);
  let index = 0;
  let chunkBytes = firstChunkBytes;
  const next = () => {
    if (stream.destroyed || stream.closed) return;
    try {
      const first = index;
      const sizes: number[] = [];
      for (let size = 0; index < events.ids.length && size < chunkBytes; ) {
        const eventSize = source.measure(index++);
        sizes.push(eventSize);
        size += Math.max(0, eventSize);
      }
      const chunk = repeatedField(events.fieldNo, sizes, (offset, out, at) => source.write(first + offset, out, at), true) ?? noBytes;
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

const noBytes = Buffer.alloc(0);
