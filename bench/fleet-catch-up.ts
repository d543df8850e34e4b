import { createCorrelationClient } from "../src/index.js";
import { startBrokerProcess } from "../test/helpers/broker-process.js";
import type { BenchConfig } from "./bench-config.js";
import type { FigureSet } from "./figure-set.js";
import { forwardAcked } from "./fleet-forward-rate.js";
import { listeningAtMs, waitForStat } from "./fleet-progress.js";

/**
 * Forwarding catch-up: a broker restarted with `--forward` (in `args`) on the
 * data directory of a broker that journaled its events with forwarding off
 * sends the whole journal, from an empty cursor. Timed from its "listening"
 * log line (the forwarder starts just before it) to the GetStats answer
 * whose forward.acked_event_id reached the journal's last event id.
 */
export async function measureForwardCatchUp(dataDirectory: string, args: string[], config: BenchConfig, figures: FigureSet): Promise<void> {
  const broker = await startBrokerProcess([...args, "--data-dir", dataDirectory], undefined, { readyTimeoutMs: config.phaseTimeoutMs });
  const client = createCorrelationClient({ socketPath: broker.socketPath, sourceProcess: "bench-analyst" });
  try {
    const startMs = listeningAtMs(broker.logs);
    if (startMs === undefined) throw new Error('the restarted broker logged no timed "listening" line');
    const last = Number((await client.service.getStats({})).lastEventId);
    const reached = await waitForStat(client, forwardAcked, last, config.phaseTimeoutMs, "journal forwarded after the restart");
    const sent = Number(reached.stats.forward?.acked ?? 0n);
    const label = "forwarding catch-up: a journal written with forwarding off, sent after a restart with --forward";
    figures.set("fleet.catchUp.rate", (sent / (reached.atMs - startMs)) * 1000, "events/s", `${label}: "listening" → last event acked by JetStream`);
    figures.set("fleet.catchUp.events", sent, "events", `${label}: events acked`);
    figures.set("fleet.catchUp.elapsed", reached.atMs - startMs, "ms", `${label}: "listening" → last event acked`);
  } finally {
    client.close();
    const code = await broker.stop();
    if (code !== 0) figures.notes.push(`catch-up broker exited with ${code}`);
  }
}
