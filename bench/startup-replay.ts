import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createCorrelationClient } from "../src/index.js";
import { cliPath } from "../test/helpers/broker-process.js";
import { LineReader } from "../test/helpers/line-reader.js";
import type { BenchConfig } from "./bench-config.js";
import { nowMs } from "./call-timing.js";
import type { FigureSet } from "./figure-set.js";
import { median } from "./percentiles.js";

/** Starts with an empty data directory, for the floor of the start-up figure (their median is reported). */
const emptyStarts = 3;

/**
 * Start-up time of a broker whose data directory holds the journal of a
 * stopped broker (the query broker's, ~1 M events in the full run): from
 * spawn to its "listening" log line, and the replay itself as the broker logs
 * it ("journal replayed": records, segments, durationMs). The floor is the
 * same start with an empty data directory, measured just before. `args` are
 * the stopped broker's (so nothing replayed is evicted); `expectedEvents` is
 * what it held when it stopped.
 */
export async function measureStartupReplay(
  dataDirectory: string,
  args: string[],
  expectedEvents: number | undefined,
  config: BenchConfig,
  figures: FigureSet,
): Promise<void> {
  const emptyMs: number[] = [];
  for (let run = 0; run < emptyStarts; run++) {
    const empty = mkdtempSync(join(tmpdir(), "corrbus-bench-data-"));
    try {
      const broker = await startTimed([...args, "--data-dir", empty], config.phaseTimeoutMs);
      emptyMs.push(broker.listeningMs);
      await broker.stop();
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  }
  figures.set("startup.empty.listening", median(emptyMs), "ms", `spawn → "listening" with an empty data directory, median of ${emptyStarts}`);

  const journalBytes = directoryBytes(join(dataDirectory, "journal"));
  figures.set("startup.replay.journalBytes", journalBytes / 1e6, "MB", "journal replayed at start-up: bytes of its segment files");
  const broker = await startTimed([...args, "--data-dir", dataDirectory], config.phaseTimeoutMs);
  try {
    figures.set("startup.replay.listening", broker.listeningMs, "ms", 'spawn → "listening" with the journal to replay');
    const replayed = broker.logs.find((line) => line.msg === "journal replayed");
    if (replayed === undefined) throw new Error('the restarted broker logged no "journal replayed" line');
    const records = replayed.records as number;
    const durationMs = replayed.durationMs as number;
    figures.set("startup.replay.records", records, "records", "journal records replayed at start-up");
    figures.set("startup.replay.segments", replayed.segments as number, "segments", "journal segments replayed at start-up");
    figures.set("startup.replay.duration", durationMs, "ms", 'journal replay at start-up, durationMs of "journal replayed"');
    if (durationMs > 0) figures.set("startup.replay.rate", (records / durationMs) * 1000, "records/s", "journal replay at start-up, records per second");
    if ((replayed.problems as number) > 0) figures.notes.push(`start-up replay reported ${replayed.problems} journal problems`);
    const client = createCorrelationClient({ socketPath: broker.socketPath, sourceProcess: "bench-analyst" });
    try {
      const stats = await client.service.getStats({});
      const stored = Number(stats.eventsStored);
      figures.set("startup.replay.stored", stored, "events", "events in the restarted broker's history (GetStats)");
      if (expectedEvents !== undefined && stored !== expectedEvents) {
        figures.notes.push(`start-up replay: the restarted broker holds ${stored} events, the stopped one held ${expectedEvents}`);
      }
    } finally {
      client.close();
    }
  } finally {
    const code = await broker.stop();
    if (code !== 0) figures.notes.push(`restarted broker (replay) exited with ${code}`);
  }
}

/** A broker started by startTimed. */
interface TimedBroker {
  readonly socketPath: string;
  /** From spawn to the arrival of its "listening" log line, ms. */
  readonly listeningMs: number;
  /** Its log lines so far (parsed JSON; `raw` for anything else). */
  readonly logs: Record<string, unknown>[];
  /** SIGTERM and wait for the exit; answers the exit code. */
  stop(): Promise<number | null>;
}

/**
 * Spawns `corrbus serve` (the compiled CLI, as users run it) on a new socket
 * and times it until its "listening" log line. Unlike the test helper, it
 * waits up to `timeoutMs` (a large journal takes a while to replay) and kills
 * the broker when it is not listening by then.
 */
async function startTimed(args: string[], timeoutMs: number): Promise<TimedBroker> {
  const directory = mkdtempSync(join(tmpdir(), "corrbus-bench-start-"));
  const socketPath = join(directory, "run", "corrbus.sock");
  const logs: Record<string, unknown>[] = [];
  const start = nowMs();
  const child = spawn(process.execPath, [cliPath, "serve", "--socket", socketPath, ...args], { stdio: ["ignore", "ignore", "pipe"] });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code, signal) => resolve(code ?? (signal === null ? null : -1))));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    const code = await exited;
    rmSync(directory, { recursive: true, force: true });
    return code;
  };
  let listeningMs: number | undefined;
  const listening = new Promise<void>((resolve) => {
    new LineReader(child.stderr!).onLine((line) => {
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(line);
      } catch {
        parsed = { raw: line };
      }
      logs.push(parsed);
      if (parsed.msg === "listening" && listeningMs === undefined) {
        listeningMs = nowMs() - start;
        resolve();
      }
    });
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      listening,
      exited.then((code) => {
        throw new Error(`broker exited with ${code} before listening: ${JSON.stringify(logs.slice(-5))}`);
      }),
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`broker not listening within ${timeoutMs} ms: ${JSON.stringify(logs.slice(-5))}`)), timeoutMs);
      }),
    ]);
  } catch (error) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await exited;
    rmSync(directory, { recursive: true, force: true });
    throw error;
  } finally {
    clearTimeout(timer);
  }
  return { socketPath, listeningMs: listeningMs as number, logs, stop };
}

/** Bytes of the files directly in `directory`. */
function directoryBytes(directory: string): number {
  let bytes = 0;
  for (const name of readdirSync(directory)) {
    const stat = statSync(join(directory, name));
    if (stat.isFile()) bytes += stat.size;
  }
  return bytes;
}
