// The worker side of a bench child process: JSON lines out, command lines in.
import { createInterface } from "node:readline";

/** Prints one JSON line for the orchestrator (bigints as strings). */
export function report(message: { type: string } & Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(message, (_key, value) => (typeof value === "bigint" ? value.toString() : value))}\n`);
}

const pending: ((command: string) => void)[] = [];
const received: string[] = [];
let reader: ReturnType<typeof createInterface> | undefined;

/** Resolves with the next command line from the orchestrator ("" when stdin ends). */
export function nextCommand(): Promise<string> {
  if (reader === undefined) {
    reader = createInterface({ input: process.stdin });
    reader.on("line", (line) => {
      const waiter = pending.shift();
      if (waiter !== undefined) waiter(line.trim());
      else received.push(line.trim());
    });
    reader.on("close", () => {
      for (const waiter of pending.splice(0)) waiter("");
    });
  }
  const queued = received.shift();
  if (queued !== undefined) return Promise.resolve(queued);
  return new Promise((resolve) => pending.push(resolve));
}

/** Stops reading stdin so the process can exit once its work is done. */
export function closeCommands(): void {
  reader?.close();
  process.stdin.destroy();
}
