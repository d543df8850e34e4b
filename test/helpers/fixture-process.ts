import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { repoRoot } from "./broker-process.js";
import { LineReader } from "./line-reader.js";

/** A JSON line a fixture printed. */
export type FixtureMessage = { type: string } & Record<string, unknown>;

/** A test client running as its own OS process (a compiled file of test/fixtures). */
export interface FixtureProcess {
  readonly child: ChildProcess;
  /** Every message printed so far. */
  readonly messages: FixtureMessage[];
  /** Resolves with the first message of `type` (and matching `where`). */
  waitFor(type: string, timeoutMs?: number, where?: (message: FixtureMessage) => boolean): Promise<FixtureMessage>;
  /** Resolves with the exit code once the process ended and its output was read. */
  exited: Promise<number | null>;
}

/** Starts `dist/test/fixtures/<name>.js` with `args` (as another user when `as` says so). */
export function spawnFixture(name: string, args: string[], as?: { uid: number; gid: number }): FixtureProcess {
  return spawnProcess(process.execPath, [join(repoRoot, "dist", "test", "fixtures", `${name}.js`), ...args], as);
}

/** Starts any program that prints JSON lines on stdout (a collector in another language, say). */
export function spawnProcess(command: string, args: string[], as?: { uid: number; gid: number }): FixtureProcess {
  const child = spawn(command, args, {
    stdio: ["ignore", "pipe", "inherit"],
    ...as,
  });
  const reader = new LineReader(child.stdout!);
  const messages: FixtureMessage[] = [];
  reader.onLine((line) => messages.push(parseLine(line)));
  const exitCode = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const exited = Promise.all([exitCode, reader.end()]).then(([code]) => code);
  return {
    child,
    messages,
    exited,
    async waitFor(type, timeoutMs = 20_000, where = () => true) {
      const line = await reader.waitFor((text) => {
        const message = parseLine(text);
        return message.type === type && where(message);
      }, timeoutMs);
      return parseLine(line);
    },
  };
}

/** The messages of `type`. */
export function messagesOf(fixture: FixtureProcess, type: string): FixtureMessage[] {
  return fixture.messages.filter((message) => message.type === type);
}

/** A JSON line as printed; any other line (human-readable output) as `{ type: "text", text }`. */
function parseLine(line: string): FixtureMessage {
  if (line.startsWith("{")) {
    try {
      return JSON.parse(line);
    } catch {
      // Not JSON after all: fall through.
    }
  }
  return { type: "text", text: line };
}
