import type { GetStatsResponse } from "../gen/corrbus/v1/service_pb.js";
import type { CorrelationClient } from "../src/index.js";
import { wallClockMs } from "./call-timing.js";

/** Between two GetStats calls while waiting: small beside the seconds a fleet figure takes, light on the broker. */
const pollMs = 10;

/** When a GetStats counter reached its target, and the stats that showed it. */
export interface Reached {
  /** Wall-clock ms (comparable with a worker's startMs) of the GetStats answer that showed it. */
  atMs: number;
  stats: GetStatsResponse;
}

/**
 * Polls GetStats until `read` of it is at least `target` (forwarding's
 * acked_event_id, ingest's stored…): what a fleet rate is timed to, since
 * the broker does that work in the background of any call. Rejects after
 * `timeoutMs`, naming `what` and how far it got.
 */
export async function waitForStat(
  client: CorrelationClient,
  read: (stats: GetStatsResponse) => number,
  target: number,
  timeoutMs: number,
  what: string,
): Promise<Reached> {
  const deadline = wallClockMs() + timeoutMs;
  for (;;) {
    const stats = await client.service.getStats({});
    const atMs = wallClockMs();
    const value = read(stats);
    if (value >= target) return { atMs, stats };
    if (atMs > deadline) throw new Error(`${what}: ${value} of ${target} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/** The wall-clock ms of a broker's "listening" log line (its own timestamp), or undefined when it has none. */
export function listeningAtMs(logs: readonly Record<string, unknown>[]): number | undefined {
  const line = logs.find((entry) => entry.msg === "listening");
  return typeof line?.time === "string" ? Date.parse(line.time) : undefined;
}
