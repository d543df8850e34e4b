import * as http2 from "node:http2";

/**
 * AnsweredStreams ends, at shutdown, the HTTP/2 streams that have nothing
 * left to do but still hold their session open, so the drain ends as soon as
 * every call is answered instead of at its timeout.
 *
 * A streaming call answered in full (its END_STREAM sent: a PublishStream
 * ended with UNAVAILABLE at shutdown, say) stays half open for as long as the
 * client goes on sending, and connect-node's gRPC client does. HTTP/2 lets a
 * server that has sent its whole response ask the client to stop, without
 * error: RST_STREAM NO_ERROR (RFC 9113 §8.1). Such a stream, or any closed
 * while its handler had stopped reading, keeps its unread data paused, and
 * Node destroys a stream only once that data is read: those are destroyed,
 * as nothing more can go either way.
 *
 * Node tells nobody when a stream's END_STREAM went out (only the stream's
 * state shows it), so while the drain lasts the streams are looked at every
 * `intervalMs`: ending one earlier, before its trailers are out, would cut
 * its answer.
 */
export class AnsweredStreams {
  private readonly streams = new Set<http2.ServerHttp2Stream>();
  private timer: NodeJS.Timeout | undefined;

  /** Default 10 ms: a drain ends that long after its last answer went out at most, at the cost of a look at each open stream. */
  constructor(private readonly intervalMs = 10) {}

  /** Follows every stream of `session` until it is destroyed. */
  watch(session: http2.ServerHttp2Session): void {
    session.on("stream", (stream: http2.ServerHttp2Stream) => {
      this.streams.add(stream);
      stream.once("close", () => this.streams.delete(stream));
    });
  }

  /** From now until `stop`: ends each stream once it is answered in full. */
  start(): void {
    this.timer ??= setInterval(() => this.release(), this.intervalMs);
    this.release();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private release(): void {
    for (const stream of this.streams) {
      if (stream.destroyed) continue;
      if (stream.closed) stream.destroy();
      else if (stream.state.localClose === 1) stream.close(http2.constants.NGHTTP2_NO_ERROR);
    }
  }
}
