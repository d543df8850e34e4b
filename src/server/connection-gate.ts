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
 * file descriptor each; a client always speaks first).
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

  stats(): ConnectionStats {
    return { open: this.open.size, ...this.counters };
  }
}
