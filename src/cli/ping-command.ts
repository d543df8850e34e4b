import { parseArgs } from "node:util";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { defaultSocketPath } from "../wire/default-socket-path.js";
import { withClient } from "./cli-client.js";
import { commonHelp, commonOptions, durationMs, positionals } from "./cli-options.js";

/** The text of `corrbus ping --help`. */
export const pingHelp = `Usage: corrbus ping [options]

Asks the broker for its stats once and prints how long the answer took: a
health check for supervisors and scripts. Exit 0 when the broker answers in
time, 1 otherwise (with the reason on stderr).

Options:
  --timeout DURATION  how long to wait for the answer: 500ms, 5s, …; a bare
                      number is seconds (default 5s)
${commonHelp}

Exit codes: 0 the broker answered, 1 no answer (not running, refused,
timed out), 2 usage.

Examples:
  corrbus ping
  corrbus ping --timeout 1s --json
  until corrbus ping >/dev/null 2>&1; do sleep 0.2; done   # wait for start-up
`;

/** `corrbus ping`: one GetStats round trip; answers 0 when the broker answered. */
export async function pingCommand(args: string[]): Promise<number> {
  const { values, positionals: given } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      ...commonOptions,
      timeout: { type: "string", default: "5s" },
    },
  });
  if (values.help) {
    process.stdout.write(pingHelp);
    return 0;
  }
  positionals(given, []);
  const timeoutMs = durationMs("timeout", values.timeout);
  const socket = values.socket ?? defaultSocketPath();
  return withClient(socket, async (client) => {
    // The session opens on this call, so the latency includes connecting: what a supervisor waits for.
    const started = performance.now();
    const stats = await client.service.getStats({}, { timeoutMs });
    const latencyMs = performance.now() - started;
    if (values.json) {
      const startedAt = stats.startedAt === undefined ? null : timestampDate(stats.startedAt).toISOString();
      const line = { socket, latency_ms: Number(latencyMs.toFixed(3)), last_event_id: String(stats.lastEventId), started_at: startedAt };
      process.stdout.write(`${JSON.stringify(line)}\n`);
    } else {
      process.stdout.write(`broker on ${socket} answered in ${latencyMs.toFixed(1)}ms (newest event_id ${stats.lastEventId})\n`);
    }
    return 0;
  });
}
