import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { type NatsConnection, type NodeConnectionOptions, credsAuthenticator, nkeyAuthenticator } from "@nats-io/transport-node";

/** How to reach the fleet's NATS servers, and as whom. */
export interface NatsLinkOptions {
  /** Comma-separated server URLs, e.g. `nats://10.0.0.5:4222` or `tls://nats.example:4222`. Required. */
  servers: string;
  /** TLS: the CA that signed the servers' certificates, and a client certificate and key when the servers ask for one. Default: no TLS unless a URL says tls://. */
  tlsCaFile?: string;
  tlsCertFile?: string;
  tlsKeyFile?: string;
  /** A NATS credentials file (JWT and nkey seed, `nsc` makes them). Default none. */
  credsFile?: string;
  /** A file holding an nkey seed (SU...). Default none. */
  nkeySeedFile?: string;
  /** User and password. Default none. */
  user?: string;
  password?: string;
  /**
   * Allow clear text (no TLS) to a server that is not on loopback. Default
   * false: the fleet's events are forensic evidence and the credentials
   * guard the stream, so nothing leaves the host unencrypted unless the
   * operator says so.
   */
  insecure?: boolean;
}

/** A fleet option that cannot work; names the option. */
export class FleetOptionError extends Error {
  override name = "FleetOptionError";
}

/**
 * Checks the link (URLs, files readable, the clear-text rule) and answers the
 * nats.js connection options: reconnect for ever with a capped, jittered
 * backoff (a broker outlives any NATS outage), named after the broker's role
 * and host so the server's monitoring shows who is who. `flag` names the
 * option in errors (`--forward`, `--ingest`).
 */
export function natsConnectionOptions(link: NatsLinkOptions, flag: string, name: string): NodeConnectionOptions {
  const servers = link.servers
    .split(",")
    .map((one) => one.trim())
    .filter((one) => one !== "");
  if (servers.length === 0) throw new FleetOptionError(`${flag}: no server URL given (e.g. nats://127.0.0.1:4222)`);
  const tlsAsked = link.tlsCaFile !== undefined || link.tlsCertFile !== undefined || link.tlsKeyFile !== undefined;
  for (const server of servers) {
    let url: URL;
    try {
      url = new URL(server);
    } catch {
      throw new FleetOptionError(`${flag}: "${server}" is not a URL such as nats://HOST:PORT`);
    }
    if (url.protocol !== "nats:" && url.protocol !== "tls:") throw new FleetOptionError(`${flag}: "${server}" must start with nats:// or tls://`);
    if (url.protocol === "nats:" && !tlsAsked && !link.insecure && !isLoopback(url.hostname)) {
      throw new FleetOptionError(
        `${flag}: ${url.hostname} is not a loopback address and no TLS is set (--nats-tls-ca, or a tls:// URL): events would cross the network in clear text; add ${flag}-insecure to allow it`,
      );
    }
  }
  if ((link.tlsCertFile === undefined) !== (link.tlsKeyFile === undefined)) {
    throw new FleetOptionError("--nats-tls-cert and --nats-tls-key go together");
  }
  const auths = [link.credsFile, link.nkeySeedFile, link.user].filter((one) => one !== undefined).length;
  if (auths > 1) throw new FleetOptionError("--nats-creds, --nats-nkey and --nats-user exclude each other: give one");
  if ((link.user === undefined) !== (link.password === undefined)) throw new FleetOptionError("--nats-user and --nats-password go together");
  const options: NodeConnectionOptions = {
    servers,
    name,
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    reconnectJitter: 250,
    // connectNats retries the first connection itself, logging why each attempt failed.
    waitOnFirstConnect: false,
    pingInterval: 10_000,
    maxPingOut: 3,
  };
  if (tlsAsked || servers.some((server) => server.startsWith("tls:"))) {
    options.tls = {
      caFile: readable(link.tlsCaFile, "--nats-tls-ca"),
      certFile: readable(link.tlsCertFile, "--nats-tls-cert"),
      keyFile: readable(link.tlsKeyFile, "--nats-tls-key"),
    };
  }
  if (link.credsFile !== undefined) options.authenticator = credsAuthenticator(readFileSync(readable(link.credsFile, "--nats-creds") as string));
  if (link.nkeySeedFile !== undefined) {
    options.authenticator = nkeyAuthenticator(new TextEncoder().encode(readFileSync(readable(link.nkeySeedFile, "--nats-nkey") as string, "utf8").trim()));
  }
  if (link.user !== undefined) {
    options.user = link.user;
    options.pass = link.password;
  }
  return options;
}

function readable(path: string | undefined, flag: string): string | undefined {
  if (path === undefined) return undefined;
  try {
    readFileSync(path);
  } catch (error) {
    throw new FleetOptionError(`${flag}: cannot read ${path}: ${(error as Error).message}`);
  }
  return path;
}

/** 127.0.0.0/8, ::1 and localhost: the only addresses clear text is allowed to without asking. */
export function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "");
  if (host === "localhost") return true;
  if (isIP(host) === 4) return host.startsWith("127.");
  if (isIP(host) === 6) return host === "::1";
  return false;
}

/** Where log lines go (the server's logger has this shape). */
export interface FleetLogger {
  log(level: "debug" | "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>): void;
}

/** Logs each disconnect and reconnect of `nc` as `role` ("forwarding", "ingest") and counts the reconnects, until it closes. */
export async function watchConnection(nc: NatsConnection, role: string, logger: FleetLogger, onReconnect: () => void): Promise<void> {
  for await (const status of nc.status()) {
    if (status.type === "reconnect") {
      onReconnect();
      logger.log("info", `${role} reconnected`, { server: status.server });
    } else if (status.type === "disconnect") {
      logger.log("warn", `${role} disconnected`, { server: status.server });
    }
  }
}
