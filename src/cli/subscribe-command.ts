import { parseArgs } from "node:util";
import type { ConnectError } from "@connectrpc/connect";
import { type EventEnvelope, EventEnvelopeSchema } from "../../gen/corrbus/v1/envelope_pb.js";
import { connectErrorText, defaultCliSource, withClient } from "./cli-client.js";
import { commonHelp, commonOptions, eventId, positiveInteger } from "./cli-options.js";
import { formatTime, orDash, payloadPreview } from "./human-format.js";
import { writeJson } from "./output-format.js";
import { UsageError } from "./usage-error.js";

/** The text of `corrbus subscribe --help`. */
export const subscribeHelp = `Usage: corrbus subscribe PATTERN... [options]

Prints events whose topic matches any PATTERN as they arrive, until Ctrl-C
(exit 0), --count events (exit 0) or an error (exit 1). Patterns: segments of
[a-z0-9_-], "+" for exactly one segment, a final "#" for zero or more.
Text: one line per event (event_id, received time, topic, source, stage,
final, payload preview); --json: one EventEnvelope per line; --raw: each
event's payload bytes as they are, followed by a newline, nothing else.

If the broker restarts or cuts the subscriber off, it subscribes again and
replays from the event after the last one printed (a note goes to stderr).

Options:
  --group NAME        join queue group NAME: each event goes to one member
  --from ID           first replay stored events with event_id >= ID
                      (not with --group)
  --name NAME         subscriber name; a control.# task delivered to it waits
                      for its final answer (default ${defaultCliSource})
  --count N           exit after N events
  --raw               print only each payload, then a newline (not with --json)
${commonHelp}

Exit codes: 0 stopped (Ctrl-C, --count), 1 error (bad pattern, broker
unreachable), 2 usage.

Examples:
  corrbus subscribe 'events.#'
  corrbus subscribe 'events.process.+' 'events.network.#' --json | jq -r .topic
  corrbus subscribe 'events.#' --from 1 --count 100 --json > first-100.jsonl
  corrbus subscribe 'events.process.started' --raw | jq .pid
  corrbus subscribe 'control.collector.task.#' --group collectors --name shell-collector
`;

/** `corrbus subscribe`: prints events until stopped; answers the exit code. */
export async function subscribeCommand(args: string[]): Promise<number> {
  const { values, positionals: patterns } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      ...commonOptions,
      group: { type: "string" },
      from: { type: "string" },
      name: { type: "string", default: defaultCliSource },
      count: { type: "string" },
      raw: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(subscribeHelp);
    return 0;
  }
  if (patterns.length === 0) throw new UsageError("missing PATTERN (e.g. 'events.#')");
  if (values.group !== undefined && values.from !== undefined) throw new UsageError("--from replays history, which a queue group cannot: drop one");
  const fromEventId = values.from === undefined ? undefined : eventId("from", values.from);
  const count = values.count === undefined ? Number.POSITIVE_INFINITY : positiveInteger("count", values.count);
  if (values.raw && values.json) throw new UsageError("--raw prints payloads only, --json whole events: drop one");
  const print = values.raw
    ? (event: EventEnvelope) => process.stdout.write(Buffer.concat([event.payload, newline]))
    : values.json
      ? (event: EventEnvelope) => writeJson(EventEnvelopeSchema, event)
      : (event: EventEnvelope) => process.stdout.write(eventLine(event));

  return withClient(
    values.socket,
    async (client) => {
      let registered = false;
      let failure: ConnectError | undefined;
      const subscription = client.subscribe(patterns, {
        queueGroup: values.group,
        fromEventId,
        onReconnect: (attempt, reason) => {
          // Before the first registration a failure is the command's answer, not a hiccup.
          if (!registered) {
            failure = reason;
            subscription.close();
            return;
          }
          process.stderr.write(`corrbus subscribe: ${connectErrorText(reason)}; subscribing again (attempt ${attempt})\n`);
        },
      });
      subscription.ready.then(
        (head) => {
          registered = true;
          if (process.stderr.isTTY) process.stderr.write(`corrbus subscribe: subscribed (newest event_id ${head}); Ctrl-C stops\n`);
        },
        () => {},
      );
      const stop = () => subscription.close();
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
      try {
        let printed = 0;
        for await (const event of subscription) {
          print(event);
          if (++printed >= count) break;
        }
      } finally {
        process.removeListener("SIGINT", stop);
        process.removeListener("SIGTERM", stop);
      }
      if (failure !== undefined) throw failure;
      return 0;
    },
    values.name,
  );
}

const newline = Buffer.from("\n");

/** One event on one line, fields separated by two spaces, empty ones as "-". */
function eventLine(event: EventEnvelope): string {
  const meta = event.correlationMetadata;
  const fields = [
    `#${event.eventId}`,
    formatTime(event.receivedAt),
    event.topic,
    orDash(meta?.sourceProcess),
    orDash(meta?.workflowStage),
    meta?.final ? "final" : "-",
    payloadPreview(event.payload, 80),
  ];
  return `${fields.join("  ")}\n`;
}
