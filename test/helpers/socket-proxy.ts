import { mkdirSync } from "node:fs";
import { type Server, type Socket, connect, createServer } from "node:net";
import { dirname } from "node:path";

/** The client connection preface of HTTP/2, before its first frame. */
const preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const frameHeaderBytes = 9;
const headersFrame = 0x1;

/** One client connection and its connection to the broker. */
interface ProxiedConnection {
  client: Socket;
  broker: Socket;
  /** Bytes from the client not yet split into HTTP/2 frames. */
  pending: Buffer;
  prefaceSeen: boolean;
  /** True once the broker's bytes to this client are dropped instead of forwarded. */
  holding: boolean;
}

/**
 * A Unix-socket proxy between a client process and the broker, forwarding
 * bytes both ways, that can lose the broker's answer to a request the broker
 * has already carried out: the one way to reach, on purpose, the moment a
 * crash can fall in by chance (the event stored, the connection gone before
 * the ack). Clients connect to `path`; nothing of HTTP/2 is changed, the
 * proxy only reads frame headers to see a client open a request stream.
 */
export class SocketProxy {
  private readonly connections = new Set<ProxiedConnection>();
  private armed = false;
  /** Connections whose answers were held when cut. */
  cutCount = 0;

  private constructor(
    readonly path: string,
    private readonly server: Server,
  ) {}

  /** Listens on `path`, forwarding each connection to the broker at `brokerPath`. */
  static async start(path: string, brokerPath: string): Promise<SocketProxy> {
    mkdirSync(dirname(path), { recursive: true });
    let proxy: SocketProxy | undefined;
    const server = createServer((client) => proxy?.accept(client, brokerPath));
    proxy = new SocketProxy(path, server);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(path, resolve);
    });
    return proxy;
  }

  /**
   * From the next request stream a client opens (its next HTTP/2 HEADERS
   * frame), drop every byte the broker sends back on that connection; the
   * request itself still reaches the broker.
   */
  holdAnswersFromNextRequest(): void {
    this.armed = true;
  }

  /** Whether some connection is dropping the broker's answers now. */
  get holding(): boolean {
    return [...this.connections].some((connection) => connection.holding);
  }

  /** Ends every proxied connection at once, both sides; new connections are forwarded as usual. */
  cutAll(): void {
    for (const connection of this.connections) {
      if (connection.holding) this.cutCount++;
      connection.client.destroy();
      connection.broker.destroy();
    }
    this.connections.clear();
  }

  async close(): Promise<void> {
    this.cutAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket, brokerPath: string): void {
    const broker = connect(brokerPath);
    const connection: ProxiedConnection = { client, broker, pending: Buffer.alloc(0), prefaceSeen: false, holding: false };
    this.connections.add(connection);
    client.on("data", (chunk: Buffer) => {
      this.watchClientFrames(connection, chunk);
      broker.write(chunk);
    });
    broker.on("data", (chunk: Buffer) => {
      if (!connection.holding) client.write(chunk);
    });
    const end = () => {
      this.connections.delete(connection);
      client.destroy();
      broker.destroy();
    };
    client.on("close", end);
    broker.on("close", end);
    client.on("error", () => {});
    broker.on("error", () => {});
  }

  /** Reads the client's frame headers; an armed proxy starts holding at the first HEADERS frame. */
  private watchClientFrames(connection: ProxiedConnection, chunk: Buffer): void {
    connection.pending = Buffer.concat([connection.pending, chunk]);
    if (!connection.prefaceSeen) {
      if (connection.pending.length < preface.length) return;
      connection.pending = connection.pending.subarray(preface.length);
      connection.prefaceSeen = true;
    }
    while (connection.pending.length >= frameHeaderBytes) {
      const length = connection.pending.readUIntBE(0, 3);
      const type = connection.pending[3];
      if (type === headersFrame && this.armed) {
        this.armed = false;
        connection.holding = true;
      }
      if (connection.pending.length < frameHeaderBytes + length) return;
      connection.pending = connection.pending.subarray(frameHeaderBytes + length);
    }
  }
}
