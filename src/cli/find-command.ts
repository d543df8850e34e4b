import { parseArgs } from "node:util";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type EventEnvelope, EventEnvelopeSchema } from "../../gen/corrbus/v1/envelope_pb.js";
import { withClient } from "./cli-client.js";
import { commonHelp, commonOptions, isoTime, positionals, positiveInteger, tagPairs } from "./cli-options.js";
import { eventHeaders, eventRow } from "./human-format.js";
import { table, writeJson } from "./output-format.js";
import { createProgress } from "./progress.js";
import { UsageError } from "./usage-error.js";

/** The text of `corrbus find --help`. */
export const findHelp = `Usage: corrbus find --tag KEY=VALUE [--tag KEY=VALUE ...] [options]

Forensic search: events whose correlation tags match every given pair, newest
first. Text: a table (event_id, received, topic, source, stage, final,
correlation, payload preview); --json: one EventEnvelope per line.

One page (--limit events) unless --all, which follows the pages to the end
(progress on stderr when it is a terminal).

Options:
  --tag KEY=VALUE     a tag every event must carry (repeatable, at least one)
  --topic PATTERN     only events on matching topics, e.g. 'events.#'
  --since TIME        only events received at or after TIME (ISO 8601)
  --until TIME        only events received before TIME (ISO 8601)
  --limit N           events per page (default 100, at most 1000)
  --oldest-first      oldest first instead of newest first
  --all               every page, not just the first
  --page-token T      continue from a previous page (the token text mode prints)
  --omit-payloads     leave payloads out
${commonHelp}

Exit codes: 0 ok (also when nothing matches), 1 error, 2 usage.

Examples:
  corrbus find --tag investigation_id=INC-12345
  corrbus find --tag investigation_id=INC-12345 --tag suspicious_pid=4892 --all --oldest-first
  corrbus find --tag host=web-1 --topic 'events.network.#' --since 2024-05-01T00:00:00Z --json | jq -r .topic
`;

/** `corrbus find`: FindByTag, one page or all of them; answers the exit code. */
export async function findCommand(args: string[]): Promise<number> {
  const { values, positionals: given } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      ...commonOptions,
      tag: { type: "string", multiple: true, default: [] },
      topic: { type: "string", default: "" },
      since: { type: "string" },
      until: { type: "string" },
      limit: { type: "string" },
      "oldest-first": { type: "boolean", default: false },
      all: { type: "boolean", default: false },
      "page-token": { type: "string", default: "" },
      "omit-payloads": { type: "boolean", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(findHelp);
    return 0;
  }
  positionals(given, []);
  if (values.tag.length === 0) throw new UsageError("missing --tag KEY=VALUE (at least one)");
  const request = {
    tags: tagPairs(values.tag),
    topicPattern: values.topic,
    since: values.since === undefined ? undefined : timestampFromDate(isoTime("since", values.since)),
    until: values.until === undefined ? undefined : timestampFromDate(isoTime("until", values.until)),
    limit: values.limit === undefined ? 0 : positiveInteger("limit", values.limit),
    oldestFirst: values["oldest-first"],
    omitPayloads: values["omit-payloads"],
  };

  return withClient(values.socket, async (client) => {
    const progress = createProgress();
    const found: EventEnvelope[] = [];
    let pageToken = values["page-token"];
    let pages = 0;
    let count = 0;
    try {
      do {
        const page = await client.service.findByTag({ ...request, pageToken });
        pages++;
        count += page.events.length;
        pageToken = page.nextPageToken;
        // JSON lines go out page by page: a script can start before the search ends.
        if (values.json) {
          progress.done(); // The status line would otherwise run into the output on a terminal.
          for (const event of page.events) writeJson(EventEnvelopeSchema, event);
        } else {
          found.push(...page.events);
        }
        progress.update(`searching: ${pages} page${pages === 1 ? "" : "s"}, ${count} events`);
      } while (values.all && pageToken !== "");
    } finally {
      progress.done();
    }
    if (values.json) {
      if (pageToken !== "") process.stderr.write(`corrbus find: more events: --page-token ${pageToken} (or --all)\n`);
      return 0;
    }
    if (found.length > 0) process.stdout.write(table(eventHeaders, found.map(eventRow)));
    const more = pageToken === "" ? "" : ` (more: --page-token ${pageToken}, or --all)`;
    process.stdout.write(`${found.length} event${found.length === 1 ? "" : "s"}${more}\n`);
    return 0;
  });
}
