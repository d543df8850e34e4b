import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";

/** A JSON line a worker printed. */
export type WorkerMessage = { type: string } & Record<string, unknown>;

/** A bench child process (a compiled file of bench/) that reports JSON lines on stdout and reads commands on stdin. */
export interface WorkerProcess {
  readonly child: ChildProcess;
  /** Every message printed so far. */
  readonly messages: WorkerMessage[];
  /** Resolves with the first message of `type` (already printed or coming); rejects when the worker exits first or after `timeoutMs`. */
  waitFor(type: string, timeoutMs: number): Promise<WorkerMessage>;
  /** Resolves with the first message of any of `types`. */
  waitForAny(types: string[], timeoutMs: number): Promise<WorkerMessage>;
  /** Writes one command line to the worker's stdin. */
  send(command: string): void;
  /** Resolves with the exit code. */
  readonly exited: Promise<number | null>;
  /** SIGTERM (if still running) and wait for the exit. */
  stop(): Promise<number | null>;
}

/** Starts `node [nodeArgs] dist/bench/<script> [args]`. */
export function spawnWorker(script: string, args: string[], nodeArgs: string[] = []): WorkerProcess {
  const child = spawn(process.execPath, [...nodeArgs, join(import.meta.dirname, script), ...args], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const messages: WorkerMessage[] = [];
  const listeners = new Set<() => void>();
  let buffer = "";
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (chunk: string) => {
    buffer += chunk;
    let end = buffer.indexOf("\n");
    while (end >= 0) {
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + 1);
      if (line.trim() !== "") messages.push(parseLine(line));
      end = buffer.indexOf("\n");
    }
    for (const listener of [...listeners]) listener();
  });
  child.stdin!.on("error", () => {}); // The worker may exit before reading a command.
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code, signal) => {
      exitCode = code ?? (signal === null ? null : -1);
      for (const listener of [...listeners]) listener();
      resolve(exitCode);
    }),
  );

  const waitForAny = (types: string[], timeoutMs: number) =>
    new Promise<WorkerMessage>((resolve, reject) => {
      const check = () => {
        const found = messages.find((message) => types.includes(message.type));
        if (found !== undefined) {
          done();
          resolve(found);
        } else if (exitCode !== undefined) {
          done();
          reject(new Error(`${script} exited (${exitCode}) before printing ${types.join("/")}; last: ${JSON.stringify(messages.slice(-3))}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${script} printed no ${types.join("/")} within ${timeoutMs} ms; last: ${JSON.stringify(messages.slice(-3))}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        listeners.delete(check);
      };
      listeners.add(check);
      check();
    });

  return {
    child,
    messages,
    exited,
    waitFor: (type, timeoutMs) => waitForAny([type], timeoutMs),
    waitForAny,
    send(command) {
      if (child.stdin!.writable) child.stdin!.write(`${command}\n`);
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      return exited;
    },
  };
}

/** The message of `type`, or an error carrying the worker's {"type":"error"} message. */
export async function expectMessage(worker: WorkerProcess, type: string, timeoutMs: number): Promise<WorkerMessage> {
  const message = await worker.waitForAny([type, "error"], timeoutMs);
  if (message.type === "error") throw new Error(`worker failed: ${JSON.stringify(message)}`);
  return message;
}

function parseLine(line: string): WorkerMessage {
  try {
    const parsed = JSON.parse(line) as WorkerMessage;
    if (typeof parsed === "object" && parsed !== null && typeof parsed.type === "string") return parsed;
  } catch {
    // Not JSON: keep it as text so an error shows up in the report.
  }
  return { type: "text", line };
}
