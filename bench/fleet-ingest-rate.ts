import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { createCorrelationClient } from "../src/index.js";
import { startBrokerProcess } from "../test/helpers/broker-process.js";
import type { BenchConfig } from "./bench-config.js";
import type { FigureSet } from "./figure-set.js";
import { listeningAtMs, waitForStat } from "./fleet-progress.js";

/** One central-ingest measurement. */
export interface IngestRun {
  /** The stream to ingest and its subject prefix. */
  stream: { stream: string; subjectPrefix: string };
  /** The central broker's other arguments (history bounds, log level). */
  args: string[];
  /** Prefix of the figures' ids, e.g. "fleet.ingest". */
  id: string;
  /** Start of the figures' labels. */
  label: string;
  /** Runs once the central holds the whole stream, with its socket (the queries). */
  whenStored?: (socketPath: string) => Promise<void>;
}

/**
 * Central ingest rate: a new central broker (`serve --ingest`, a fresh data
 * directory and durable consumer) started on a stream that already holds its
 * events, timed from its "listening" log line (the ingester starts just
 * before it) to the GetStats answer whose ingest.stored reached what the
 * stream holds. Its warnings and refusals go to the notes.
 */
export async function measureIngestRate(natsUrl: string, run: IngestRun, config: BenchConfig, figures: FigureSet): Promise<void> {
  const nc = await connect({ servers: natsUrl, name: "bench-fleet-admin" });
  let expected: number;
  try {
    expected = Number((await (await jetstreamManager(nc)).streams.info(run.stream.stream)).state.messages);
  } finally {
    await nc.close();
  }
  const dataDirectory = mkdtempSync(join(tmpdir(), "corrbus-bench-central-"));
  try {
    const broker = await startBrokerProcess(
      [
        ...run.args,
        "--host-id",
        "bench-central",
        "--ingest",
        natsUrl,
        "--stream",
        run.stream.stream,
        "--subject-prefix",
        run.stream.subjectPrefix,
        "--ingest-consumer",
        `bench-central-${run.stream.stream}`,
        "--data-dir",
        dataDirectory,
      ],
      undefined,
      { readyTimeoutMs: config.phaseTimeoutMs },
    );
    const client = createCorrelationClient({ socketPath: broker.socketPath, sourceProcess: "bench-analyst" });
    try {
      const startMs = listeningAtMs(broker.logs);
      if (startMs === undefined) throw new Error('the central broker logged no timed "listening" line');
      const reached = await waitForStat(client, (stats) => Number(stats.ingest?.stored ?? 0n), expected, config.phaseTimeoutMs, `${run.label}: events stored`);
      const ingest = reached.stats.ingest;
      figures.set(
        `${run.id}.rate`,
        (expected / (reached.atMs - startMs)) * 1000,
        "events/s",
        `${run.label}: "listening" → ingest.stored reached the stream's count`,
      );
      figures.set(`${run.id}.events`, expected, "events", `${run.label}: messages in the stream, all stored`);
      figures.set(`${run.id}.elapsed`, reached.atMs - startMs, "ms", `${run.label}: "listening" → all stored`);
      for (const [key, value] of [
        ["duplicates", ingest?.duplicates ?? 0n],
        ["refused", ingest?.refused ?? 0n],
        ["consumerRestarts", ingest?.consumerRestarts ?? 0n],
        ["eventsEvicted", reached.stats.eventsEvicted],
      ] as const) {
        if (value > 0n) figures.notes.push(`${run.label}: the central counted ${key} = ${value}`);
      }
      await run.whenStored?.(broker.socketPath);
    } finally {
      client.close();
      const code = await broker.stop();
      if (code !== 0) figures.notes.push(`${run.label}: the central broker exited with ${code}`);
      const problems = broker.logs.filter((line) => line.level === "error" || line.level === "warn" || "raw" in line);
      for (const line of problems.slice(0, 5)) figures.notes.push(`central broker log: ${JSON.stringify(line).slice(0, 300)}`);
    }
  } finally {
    rmSync(dataDirectory, { recursive: true, force: true });
  }
}
