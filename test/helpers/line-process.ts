import { type ChildProcess, spawn } from "node:child_process";
import { LineReader } from "./line-reader.js";

/** A command-line process whose stdout and stderr are read line by line. */
export interface LineProcess {
  child: ChildProcess;
  out: LineReader;
  err: LineReader;
  /** The exit code, once the process ended and both outputs were read. */
  exited: Promise<number | null>;
}

/** Starts `command` with `args` in `env`, reading its stdout and stderr as lines. */
export function spawnLines(command: string, args: string[], env: NodeJS.ProcessEnv): LineProcess {
  const child = spawn(command, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  const out = new LineReader(child.stdout!);
  const err = new LineReader(child.stderr!);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, out, err, exited: exited.then(async (code) => (await Promise.all([out.end(), err.end()]), code)) };
}

/** [first, last] runs of consecutive ids, as the subscriber fixture's summary reports them. */
export function idRanges(ids: bigint[]): [string, string][] {
  const runs: [bigint, bigint][] = [];
  for (const id of ids) {
    const run = runs.at(-1);
    if (run !== undefined && id === run[1] + 1n) run[1] = id;
    else runs.push([id, id]);
  }
  return runs.map(([from, to]) => [String(from), String(to)]);
}
