import { parseArgs } from "node:util";
import { GetWorkflowResponseSchema } from "../../gen/corrbus/v1/service_pb.js";
import { CompletionStatus, DeliveryState, type WorkflowState } from "../../gen/corrbus/v1/workflow_pb.js";
import { withClient } from "./cli-client.js";
import { commonHelp, commonOptions, positionals } from "./cli-options.js";
import { enumText, formatDuration, formatTime, optionalMs, orDash } from "./human-format.js";
import { keyValues, table, writeJson } from "./output-format.js";

/** The text of `corrbus workflow --help`. */
export const workflowHelp = `Usage: corrbus workflow CORRELATION_ID [options]

Shows what the broker knows of one correlation (one workflow step): its
lineage, tags (those publish --correlation and --parent inherit),
delivery-tracked status, stages with durations, participants,
sequence gaps and task deliveries. --json: the GetWorkflowResponse as one line.

Options:
${commonHelp}

Exit codes: 0 ok, 1 error (e.g. NOT_FOUND: neither tracked nor in history),
2 usage.

Examples:
  corrbus workflow 3f2a9c1e-2b0d-4c55-9a7e-6d6b1f0a9e11
  corrbus workflow "$ID" --json | jq -r .workflow.status
`;

/** `corrbus workflow`: GetWorkflow; answers the exit code. */
export async function workflowCommand(args: string[]): Promise<number> {
  const { values, positionals: given } = parseArgs({ args, allowPositionals: true, strict: true, options: { ...commonOptions } });
  if (values.help) {
    process.stdout.write(workflowHelp);
    return 0;
  }
  const [correlationId] = positionals(given, ["CORRELATION_ID"]);
  return withClient(values.socket, async (client) => {
    const response = await client.service.getWorkflow({ correlationId });
    if (values.json) writeJson(GetWorkflowResponseSchema, response);
    else if (response.workflow !== undefined) process.stdout.write(describeWorkflow(response.workflow));
    return 0;
  });
}

function describeWorkflow(state: WorkflowState): string {
  const first = optionalMs(state.firstEventAt);
  const last = optionalMs(state.lastEventAt);
  const span = first === undefined || last === undefined ? "" : ` (${formatDuration(last - first)})`;
  const parent =
    state.parentCorrelationId === undefined ? "- (a root step)" : `${state.parentCorrelationId}${state.orphan ? "  ORPHAN: never seen by the broker" : ""}`;
  const status = state.status === CompletionStatus.UNSPECIFIED ? "untracked (rebuilt from history)" : enumText(CompletionStatus, state.status);
  const sections = [
    keyValues([
      ["correlation", state.correlationId],
      ["root", state.rootCorrelationId],
      ["parent", parent],
      ["depth", String(state.depth)],
      [
        "tags",
        Object.entries(state.correlationTags)
          .map(([key, value]) => `${key}=${value}`)
          .join(", ") || "-",
      ],
      ["status", state.completedAt === undefined ? status : `${status} at ${formatTime(state.completedAt)}`],
      ["events", `${state.totalEvents}, ${formatTime(state.firstEventAt)} → ${formatTime(state.lastEventAt)}${span}`],
      ["children", state.childCorrelationIds.join(", ") || "-"],
      ["gaps", state.gaps.length === 0 ? "none" : `${state.gaps.length} (GAP_IN below)`],
      ["deliveries", state.deliveries.length === 0 ? "none (no task delivered)" : String(state.deliveries.length)],
    ]),
    section(
      ["STAGE", "EVENTS", "FIRST", "LAST", "DURATION", "COMPLETED"],
      state.stages.map((stage) => [
        orDash(stage.name),
        String(stage.eventCount),
        formatTime(stage.firstEventAt),
        formatTime(stage.lastEventAt),
        formatDuration((optionalMs(stage.lastEventAt) ?? 0) - (optionalMs(stage.firstEventAt) ?? 0)),
        formatTime(stage.completedAt),
      ]),
    ),
    section(
      ["PARTICIPANT", "PID", "VERIFIED", "EVENTS", "FINAL", "LAST_SEQUENCE"],
      state.participants.map((participant) => [
        orDash(participant.sourceProcess),
        String(participant.pid),
        participant.verified ? "yes" : "no",
        String(participant.eventCount),
        participant.finalSent ? "yes" : "no",
        String(participant.lastSequenceNumber),
      ]),
    ),
    section(
      ["GAP_IN", "FIRST_MISSING", "LAST_MISSING"],
      state.gaps.map((gap) => [orDash(gap.sourceProcess), String(gap.firstMissing), String(gap.lastMissing)]),
    ),
    section(
      ["DELIVERED_TO", "PID", "GROUP", "STATE", "REASON"],
      state.deliveries.map((delivery) => [
        orDash(delivery.subscriberName),
        String(delivery.subscriberPid),
        orDash(delivery.queueGroup),
        enumText(DeliveryState, delivery.state),
        orDash(delivery.reason),
      ]),
    ),
  ];
  return sections.filter((text) => text !== "").join("\n");
}

/** A table, or nothing when it has no rows. */
function section(headers: string[], rows: string[][]): string {
  return rows.length === 0 ? "" : table(headers, rows);
}
