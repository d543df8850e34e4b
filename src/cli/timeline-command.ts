import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { create } from "@bufbuild/protobuf";
import { type GetTimelineResponse, GetTimelineResponseSchema } from "../../gen/corrbus/v1/service_pb.js";
import type { CorrelationClient } from "../client/correlation-client.js";
import { withClient } from "./cli-client.js";
import { commonHelp, commonOptions, positionals, positiveInteger } from "./cli-options.js";
import { renderTimelineHtml } from "./html-timeline.js";
import { writeJson } from "./output-format.js";
import { type Progress, createProgress } from "./progress.js";
import { renderTimelineTree } from "./timeline-tree.js";

/** The text of `corrbus timeline --help`. */
export const timelineHelp = `Usage: corrbus timeline ROOT [options]

Shows a whole workflow: every event under the root correlation ROOT and the
tree of its correlations. Text: the tree, each correlation with its stages
(durations), participants, task deliveries and events, times relative to the
first event; ORPHAN marks a step whose parent the broker never saw, GAP a
publisher's skipped sequence numbers, EVICTED events no longer in history.
--json: the GetTimelineResponse as one line (every page merged).

Options:
  --omit-payloads     leave payloads out
  --html FILE         also write a self-contained HTML page of the workflow on
                      a time axis (stages as bars, events as marks, a lane per
                      process) to FILE, for analysts
  --page-size N       events fetched per call (default 10000, at most 100000);
                      every page is fetched, with progress on a terminal
${commonHelp}

Exit codes: 0 ok, 1 error (e.g. NOT_FOUND: no such workflow), 2 usage.

Examples:
  corrbus timeline 3f2a9c1e-2b0d-4c55-9a7e-6d6b1f0a9e11
  corrbus timeline "$ROOT" --omit-payloads --html timeline.html
  corrbus timeline "$ROOT" --json | jq -r '.events[] | [.event_id, .topic] | @tsv'
`;

/** `corrbus timeline`: GetTimeline, every page; answers the exit code. */
export async function timelineCommand(args: string[]): Promise<number> {
  const { values, positionals: given } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      ...commonOptions,
      "omit-payloads": { type: "boolean", default: false },
      html: { type: "string" },
      "page-size": { type: "string" },
    },
  });
  if (values.help) {
    process.stdout.write(timelineHelp);
    return 0;
  }
  const [root] = positionals(given, ["ROOT"]);
  const pageSize = values["page-size"] === undefined ? 0 : positiveInteger("page-size", values["page-size"]);

  return withClient(values.socket, async (client) => {
    const progress = createProgress();
    let timeline: GetTimelineResponse;
    try {
      timeline = await fetchTimeline(client, root, values["omit-payloads"], pageSize, progress);
    } finally {
      progress.done();
    }
    if (values.html !== undefined) await writeFile(values.html, renderTimelineHtml(timeline));
    if (values.json) {
      writeJson(GetTimelineResponseSchema, timeline);
      return 0;
    }
    process.stdout.write(renderTimelineTree(timeline));
    if (values.html !== undefined) process.stdout.write(`\nwrote ${values.html}\n`);
    return 0;
  });
}

/** Every page of a timeline as one response: events in order, the correlations as the last page saw them. */
async function fetchTimeline(client: CorrelationClient, root: string, omitPayloads: boolean, limit: number, progress: Progress): Promise<GetTimelineResponse> {
  const merged = create(GetTimelineResponseSchema);
  let afterEventId = 0n;
  for (;;) {
    const page = await client.service.getTimeline({ rootCorrelationId: root, omitPayloads, limit, afterEventId });
    merged.events.push(...page.events);
    merged.correlations = page.correlations;
    if (!page.truncated || page.events.length === 0) return merged;
    afterEventId = page.events[page.events.length - 1].eventId;
    progress.update(`timeline ${root}: ${merged.events.length} events…`);
  }
}
