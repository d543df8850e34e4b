import { connect as netConnect } from "node:net";
import * as http2 from "node:http2";
import { Http2SessionManager } from "@connectrpc/connect-node";

/** Receive window of each stream: one Subscribe answer of the broker's largest (1 MiB) in flight. */
const streamWindowBytes = 1024 * 1024;
/** Receive window of the whole connection: a few streams' worth, and the most a session buffers unread. */
const connectionWindowBytes = 4 * 1024 * 1024;

/** The authority is nominal: every connection goes to the socket. */
export const brokerBaseUrl = "http://localhost";

/**
 * The HTTP/2 session to the broker, with receive windows sized for a local
 * socket. HTTP/2's default of 64 KiB per stream and per connection let the
 * broker send a subscriber only 64 KiB per round trip of window updates,
 * while its answers to a lagging subscriber run to 1 MiB (probe, one stream
 * publisher to one subscriber: ~40-53 K -> ~54-60 K events/s delivered).
 * Owning the manager is also what lets close() end the session for real.
 */
export class BrokerSessionManager extends Http2SessionManager {
  private readonly widened = new WeakSet<object>();

  constructor(socketPath: string) {
    super(brokerBaseUrl, {}, { createConnection: () => netConnect(socketPath), settings: { initialWindowSize: streamWindowBytes } });
  }

  override async request(...args: Parameters<Http2SessionManager["request"]>): ReturnType<Http2SessionManager["request"]> {
    const stream = await super.request(...args);
    // The connection's window is not a setting: widen it once per session, on its first stream.
    const session = stream.session;
    if (session !== undefined && !this.widened.has(session)) {
      this.widened.add(session);
      session.setLocalWindowSize(connectionWindowBytes);
    }
    if (session !== undefined) stream.once("close", () => closeSessionIfCalmed(stream, session));
    return stream;
  }
}

/**
 * A stream reset with ENHANCE_YOUR_CALM (a gRPC request over the broker's read
 * limit) leaves the broker resetting every later stream of that connection:
 * closing the session (calls in flight finish) makes the next call open a new
 * one, where it used to fail the same way for the client's whole life.
 */
function closeSessionIfCalmed(stream: http2.ClientHttp2Stream, session: http2.Http2Session): void {
  if (stream.rstCode === http2.constants.NGHTTP2_ENHANCE_YOUR_CALM && !session.closed && !session.destroyed) session.close();
}
