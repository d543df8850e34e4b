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
  /**
   * Connections closed for not completing their start within `firstBytesTimeoutMs`
   * (the HTTP/2 preface and SETTINGS, or an HTTP/1.1 request head), and HTTP/2
   * sessions closed for not answering a ping.
   */
  silentClosed: number;
}

/** Where a connection keeps its start deadline (read through an HTTP/2 session's socket proxy too). */
const startDeadline = Symbol("corrbus.startDeadline");

/**
 * ConnectionGate bounds connections: at most `maxConnections` open at once
 * (a new one past that is closed at once and counted), and every connection
 * has a deadline, `firstBytesTimeoutMs`, for a complete start: the HTTP/2
 * preface and the client's SETTINGS, or an HTTP/1.1 request head (again for
 * each next request on a kept-alive connection). Any byte is not enough: a
 * peer sending one, or half a header block, held its slot forever, and 256 of
 * them shut every client out. An HTTP/2 session that does not answer a ping
 * within that time is closed too (`watchSession`).
 */
export class ConnectionGate {
  private readonly open = new Set<Socket>();
  private readonly counters = { accepted: 0, refused: 0, silentClosed: 0 };

  constructor(
    /** Most connections open at once. */
    readonly maxConnections: number,
    /** How long a connection may take to complete its start (preface, request head). */
    readonly firstBytesTimeoutMs: number,
  ) {}

  /** Lets `socket` in, or closes it; answers whether it was let in. Its start deadline runs from now. */
  admit(socket: Socket): boolean {
    if (this.open.size >= this.maxConnections) {
      this.counters.refused++;
      socket.destroy();
      return false;
    }
    this.counters.accepted++;
    this.open.add(socket);
    socket.once("close", () => {
      this.open.delete(socket);
      this.started(socket);
    });
    this.expectStart(socket);
    return true;
  }

  /** Starts (again) the deadline for `socket` to complete a start: an HTTP/1.1 connection that finished its requests waits for the next head. */
  expectStart(socket: Socket): void {
    this.started(socket);
    if (socket.destroyed) return;
    const deadlines = socket as unknown as Record<symbol, NodeJS.Timeout | undefined>;
    const timer = setTimeout(() => {
      // As for a ping's answer (watchSession): a start that reached a busy broker in time is read first.
      setImmediate(() => {
        if (deadlines[startDeadline] !== timer || socket.destroyed) return;
        this.counters.silentClosed++;
        socket.destroy();
      });
    }, this.firstBytesTimeoutMs);
    timer.unref();
    deadlines[startDeadline] = timer;
  }

  /** `socket` completed its start (the HTTP/2 SETTINGS arrived, or a request head): its deadline ends. */
  started(socket: Socket): void {
    // Through an HTTP/2 session's proxy of its socket too, which passes reads and writes of properties on.
    const deadlines = socket as unknown as Record<symbol, NodeJS.Timeout | undefined>;
    clearTimeout(deadlines[startDeadline]);
    deadlines[startDeadline] = undefined;
  }

  /**
   * Closes an HTTP/2 session that stays silent: one idle for half of
   * `firstBytesTimeoutMs` is pinged, and closed (counted as silent) unless the
   * ping is answered within the other half (the answer counts if it reached
   * the broker by then, even if a busy broker reads it later). A live client's HTTP/2 stack
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
      let answered = false;
      // Timers run before the event loop reads sockets: a broker that was busy past the deadline has the answer
      // waiting unread, so the decision waits for one read of the sockets (setImmediate runs after it).
      const deadline = setTimeout(() => setImmediate(() => answered || close()), half);
      deadline.unref();
      try {
        session.ping((error) => {
          answered = true;
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
