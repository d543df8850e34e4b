import type { ServerHttp2Session } from "node:http2";
import type { Socket } from "node:net";

/** Counters of the connection gate, for GetStats. */
export interface ConnectionStats {
  /** Connections open now. */
  open: number;
  /** Connections accepted since start. */
  accepted: number;
  /** Connections refused because `maxConnections` were open. */
  refused: number;
  /** Connections closed for sending nothing within `firstBytesTimeoutMs`. */
  silentClosed: number;
}

/**
 * ConnectionGate bounds connections: at most `maxConnections` open at once
 * (a new one past that is closed at once and counted), and a connection that
 * sends no byte within `firstBytesTimeoutMs` is closed (idle sockets cost a
 * file descriptor each; a client always speaks first), as is an HTTP/2
 * session that does not answer a ping within that time (`watchSession`).
 */
export class ConnectionGate {
  private readonly open = new Set<Socket>();
  private readonly counters = { accepted: 0, refused: 0, silentClosed: 0 };

  constructor(
    /** Most connections open at once. */
    readonly maxConnections: number,
    /** How long a new connection may stay silent. */
    readonly firstBytesTimeoutMs: number,
  ) {}

  /** Lets `socket` in, or closes it; answers whether it was let in. */
  admit(socket: Socket): boolean {
    if (this.open.size >= this.maxConnections) {
      this.counters.refused++;
      socket.destroy();
      return false;
    }
    this.counters.accepted++;
    this.open.add(socket);
    socket.once("close", () => this.open.delete(socket));
    const timer = setTimeout(() => {
      this.counters.silentClosed++;
      socket.destroy();
    }, this.firstBytesTimeoutMs);
    timer.unref();
    socket.once("data", () => clearTimeout(timer));
    socket.once("close", () => clearTimeout(timer));
    return true;
  }

  /**
   * Closes an HTTP/2 session that stays silent: one idle for half of
   * `firstBytesTimeoutMs` is pinged, and closed (counted as silent) unless the
   * ping is answered within the other half. A live client's HTTP/2 stack
   * answers pings by itself, so idle subscribers stay. What goes is a session
   * Node's HTTP/2 layer gave up on: after a connection error (a frame of the
   * wrong size, a broken header block) it sends GOAWAY and stops reading the
   * socket, but never closes it, so it would not even see the peer leave and
   * would hold its connection slot forever.
   */
  watchSession(session: ServerHttp2Session): void {
    const close = () => {
      // Closing or closed already (a ping cancelled by a normal close): nothing to do.
      if (session.closed || session.destroyed) return;
      this.counters.silentClosed++;
      session.destroy();
    };
    const half = Math.max(1, Math.round(this.firstBytesTimeoutMs / 2));
    // One listener for the session's life; re-arming the timer must not add more.
    session.on("timeout", () => {
      const deadline = setTimeout(close, half);
      deadline.unref();
      try {
        session.ping((error) => {
          clearTimeout(deadline);
          // Answered: watch the next idle period (the session's timer is not re-armed by a ping).
          if (error === null) session.setTimeout(half);
          else close();
        });
      } catch {
        clearTimeout(deadline);
        close();
      }
    });
    session.setTimeout(half);
  }

  stats(): ConnectionStats {
    return { open: this.open.size, ...this.counters };
  }
}
