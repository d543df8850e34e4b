import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { LineReader } from "./line-reader.js";

/** Repository root (this file runs from test/helpers or dist/test/helpers). */
export const repoRoot = resolve(import.meta.dirname, import.meta.dirname.includes(`${join("dist", "test")}`) ? "../../.." : "../..");

/** The compiled CLI, as users run it. */
export const cliPath = join(repoRoot, "bin", "corrbus.js");

/** A broker running as its own OS process on a fresh temporary socket. */
export interface BrokerProcess {
  readonly socketPath: string;
  readonly directory: string;
  readonly child: ChildProcess;
  /** Log lines the broker wrote so far (parsed JSON). */
  readonly logs: Record<string, unknown>[];
  /** SIGTERM and wait for exit; answers the exit code. */
  stop(): Promise<number | null>;
  /**
   * SIGKILL and wait for exit, as a crash: no drain and no cleanup (the socket
   * file, LOCK and journal stay as they are; stop() afterwards only removes
   * the helper's temporary directory). Answers the signal that ended it.
   */
  kill(): Promise<NodeJS.Signals | null>;
}

/** Options of startBrokerProcess beyond its arguments. */
export interface BrokerProcessOptions {
  /** The `corrbus` command to run (default: the repository's bin/corrbus.js), e.g. a scratch build's. */
  cliPath?: string;
  /** The broker's environment (default: the test's), e.g. NODE_OPTIONS with a heap limit. */
  env?: NodeJS.ProcessEnv;
  /** How long it may take to listen, journal replay included (default 15 s). */
  readyTimeoutMs?: number;
}

/** Starts `corrbus serve` with `args` on a new socket and waits until it listens. */
export async function startBrokerProcess(args: string[] = [], socketPath?: string, options: BrokerProcessOptions = {}): Promise<BrokerProcess> {
  const directory = mkdtempSync(join(tmpdir(), "corrbus-test-"));
  const path = socketPath ?? join(directory, "run", "corrbus.sock");
  // A journal in the test's own directory unless the test says otherwise.
  const storage = args.includes("--in-memory") || args.includes("--data-dir") ? [] : ["--data-dir", join(directory, "data")];
  const child = spawn(process.execPath, [options.cliPath ?? cliPath, "serve", "--socket", path, "--log-level", "debug", ...storage, ...args], {
    stdio: ["ignore", "inherit", "pipe"],
    env: options.env ?? process.env,
  });
  const logs: Record<string, unknown>[] = [];
  const stderr = new LineReader(child.stderr!);
  stderr.onLine((line) => {
    try {
      logs.push(JSON.parse(line));
    } catch {
      logs.push({ raw: line });
    }
  });
  const exited = new Promise<number | null>((resolveExit) => child.once("exit", (code) => resolveExit(code)));
  await Promise.race([
    stderr.waitFor((line) => line.includes('"msg":"listening"'), options.readyTimeoutMs ?? 15_000),
    exited.then((code) => {
      throw new Error(`broker exited with ${code} before listening: ${JSON.stringify(logs)}`);
    }),
  ]);
  return {
    socketPath: path,
    directory,
    child,
    logs,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      const code = await exited;
      rmSync(directory, { recursive: true, force: true });
      return code;
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
      return child.signalCode;
    },
  };
}

/** Runs the CLI to completion; answers its exit code and output. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolveRun) => {
    const child = spawn(process.execPath, [cliPath, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.once("exit", (code) => resolveRun({ code, stdout, stderr }));
  });
}
