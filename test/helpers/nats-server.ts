import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LineReader } from "./line-reader.js";

/** A nats-server with JetStream running as its own process on a loopback port. */
export interface NatsServerProcess {
  /** `nats://127.0.0.1:<port>` (`tls://` when the server requires TLS), for the nats.js client. */
  readonly url: string;
  /** As the server reports it, e.g. "2.9.10". */
  readonly version: string;
  readonly child: ChildProcess;
  /** Its log lines so far. */
  readonly logs: string[];
  /** The client port it listens on. */
  readonly port: number;
  /** Its store directory (JetStream's files), kept by kill() for a restart. */
  readonly storeDirectory: string;
  /** SIGINT, wait for the exit, remove the store directory (unless the caller gave it); answers the exit code (0 after a clean shutdown). */
  stop(): Promise<number | null>;
  /** SIGKILL and wait, as a crash: the store stays, for a restart on the same port and store. */
  kill(): Promise<void>;
}

/** Options of startNatsServer. */
export interface NatsServerOptions {
  /** The executable (default "nats-server" on PATH, as Debian installs it). */
  command?: string;
  /** Longest to wait for "Server is ready" (default 15 s: JetStream start-up on an idle disk takes well under one). */
  timeoutMs?: number;
  /** The client port (default: one the server picks); give the old one to restart a killed server where its clients look. */
  port?: number;
  /** The store directory (default: a new temporary one, removed by stop()); give a killed server's to restart it with its streams. */
  storeDirectory?: string;
  /** Lines added to the configuration file (a server_name and cluster block for a JetStream cluster, an authorization block). */
  config?: string;
  /** The server's certificate and key (PEM files): it then requires TLS of every client and its url says tls://. Default none. */
  tls?: { certFile: string; keyFile: string };
}

/**
 * Bytes the server buffers per client before it cuts a slow consumer off
 * (its default is 64 MB). Raised, as the corrbus broker's --subscriber-queue
 * is, so a fan-out figure measures delivery rather than a cut-off.
 */
const maxPendingBytes = 2 ** 30;

/**
 * Starts `nats-server -js -sd <temp dir> -a 127.0.0.1 -p -1` (JetStream with
 * file storage in a fresh temporary directory, a random free port it picks
 * itself, so no port can be taken between choosing and binding) and waits
 * until it is ready. Answers undefined and prints the reason when the
 * executable is missing, so the bench skips only the NATS rows.
 */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServerProcess | undefined> {
  const command = options.command ?? "nats-server";
  const version = natsServerVersion(command);
  if (version === undefined) {
    process.stderr.write(`nats-server not found (${command}): the NATS rows are skipped; scripts/prepare-bench.sh installs it\n`);
    return undefined;
  }
  const directory = mkdtempSync(join(tmpdir(), "corrbus-nats-"));
  const storeDirectory = options.storeDirectory ?? join(directory, "store");
  const config = join(directory, "nats-server.conf");
  const tls =
    options.tls === undefined ? "" : `tls {\n  cert_file: ${JSON.stringify(options.tls.certFile)}\n  key_file: ${JSON.stringify(options.tls.keyFile)}\n}\n`;
  writeFileSync(config, `max_pending: ${maxPendingBytes}\n${tls}${options.config ?? ""}\n`);
  const child = spawn(command, ["-c", config, "-js", "-sd", storeDirectory, "-a", "127.0.0.1", "-p", String(options.port ?? -1)], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const stderr = new LineReader(child.stderr!);
  const logs = stderr.lines;
  const stop = async () => {
    // Both signals shut the server down alike; after SIGTERM it exits 1, after SIGINT 0, so the code tells a clean stop from a crash.
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGINT");
    const code = await exited;
    rmSync(directory, { recursive: true, force: true });
    return code;
  };
  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await exited;
  };
  try {
    const listening = await Promise.race([
      stderr.waitFor((line) => line.includes("Listening for client connections on"), options.timeoutMs ?? 15_000),
      exited.then((code) => {
        throw new Error(`nats-server exited with ${code} before listening: ${logs.slice(-5).join(" | ")}`);
      }),
    ]);
    await stderr.waitFor((line) => line.includes("Server is ready"), options.timeoutMs ?? 15_000);
    const port = /:(\d+)\s*$/.exec(listening)?.[1];
    if (port === undefined) throw new Error(`nats-server: no port in "${listening}"`);
    return { url: `${options.tls === undefined ? "nats" : "tls"}://127.0.0.1:${port}`, version, child, logs, port: Number(port), storeDirectory, stop, kill };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** `nats-server --version` ("nats-server: v2.9.10") as "2.9.10", or undefined when it cannot be run. */
export function natsServerVersion(command = "nats-server"): string | undefined {
  try {
    const output = execFileSync(command, ["--version"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    return /v?(\d+\.\d+\.\d+\S*)/.exec(output)?.[1] ?? output.trim();
  } catch {
    return undefined;
  }
}
