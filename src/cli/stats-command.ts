import { fleetSections } from "./fleet-stats-rows.js";
import { parseArgs } from "node:util";
import { type GetStatsResponse, GetStatsResponseSchema } from "../../gen/corrbus/v1/service_pb.js";
import { withClient } from "./cli-client.js";
import { commonHelp, commonOptions, positionals } from "./cli-options.js";
import { formatBytes, formatDuration, formatTime, optionalMs } from "./human-format.js";
import { keyValues, writeJson } from "./output-format.js";

/** The text of `corrbus stats --help`. */
export const statsHelp = `Usage: corrbus stats [options]

Prints the broker's counters since it started, by section: events, history,
subscribers, workflows, waiters, connections, indexes, memory and the journal.
--json: the GetStatsResponse as one line.

Options:
${commonHelp}

Exit codes: 0 ok, 1 error (e.g. UNAVAILABLE: no broker), 2 usage.

Examples:
  corrbus stats
  corrbus stats --json | jq .events_published
`;

/** `corrbus stats`: GetStats; answers the exit code. */
export async function statsCommand(args: string[]): Promise<number> {
  const { values, positionals: given } = parseArgs({ args, allowPositionals: true, strict: true, options: { ...commonOptions } });
  if (values.help) {
    process.stdout.write(statsHelp);
    return 0;
  }
  positionals(given, []);
  return withClient(values.socket, async (client) => {
    const stats = await client.service.getStats({});
    if (values.json) writeJson(GetStatsResponseSchema, stats);
    else process.stdout.write(describeStats(stats));
    return 0;
  });
}

type Section = [title: string, rows: [string, string][]];

function describeStats(stats: GetStatsResponse): string {
  const started = optionalMs(stats.startedAt);
  const uptime = started === undefined ? "" : ` (up ${formatDuration(Date.now() - started)})`;
  const n = (value: bigint | number) => String(value);
  const sections: Section[] = [
    [
      "broker",
      [
        ["started", `${formatTime(stats.startedAt)}${uptime}`],
        ["host id", stats.hostId],
        ["last event_id", n(stats.lastEventId)],
      ],
    ],
    [
      "events",
      [
        ["published", n(stats.eventsPublished)],
        ["rejected", n(stats.publishesRejected)],
        ["permission denied", n(stats.permissionDenied)],
        ["delivered", n(stats.eventsDelivered)],
        ["dropped", n(stats.eventsDropped)],
        ["restored", n(stats.eventsRestored)],
      ],
    ],
    [
      "history",
      [
        ["events", `${stats.eventsStored} of ${stats.historyMaxEvents}`],
        ["bytes", `${formatBytes(stats.bytesStored)} of ${formatBytes(stats.historyMaxBytes)}`],
        ["evicted", n(stats.eventsEvicted)],
        ["evicted for memory", n(stats.eventsEvictedForMemory)],
        ["expired", n(stats.eventsExpired)],
      ],
    ],
    [
      "subscribers",
      [
        ["connected", n(stats.subscribers)],
        ["cut off", n(stats.subscribersCutOff)],
      ],
    ],
    [
      "workflows",
      [
        ["active", n(stats.workflowsActive)],
        ["expired", n(stats.workflowsExpired)],
        ["evicted", n(stats.workflowsEvicted)],
        ["evicted for memory", n(stats.workflowsEvictedForMemory)],
        ["lineage rejected", n(stats.lineageRejected)],
        ["orphans", n(stats.orphans)],
        ["waiters", n(stats.waiters)],
      ],
    ],
    [
      "connections",
      [
        ["open", n(stats.connectionsOpen)],
        ["accepted", n(stats.connectionsAccepted)],
        ["refused", n(stats.connectionsRefused)],
        ["silent closed", n(stats.connectionsSilentClosed)],
      ],
    ],
    [
      "indexes",
      [
        ["tag keys", n(stats.tagIndexKeys)],
        ["correlations", n(stats.correlationIndexKeys)],
        ["roots", n(stats.rootIndexKeys)],
        ["metadata templates", n(stats.metadataTemplates)],
      ],
    ],
    [
      "memory",
      [
        [
          "bound",
          `${formatBytes(stats.memoryHistoryBytes + stats.memoryWorkflowBytes)} of ${formatBytes(stats.memoryLimitBytes)} (history ${formatBytes(stats.memoryHistoryBytes)}, workflows ${formatBytes(stats.memoryWorkflowBytes)}; estimated)`,
        ],
        ["rss", formatBytes(stats.memoryRssBytes)],
        ["heap used", formatBytes(stats.memoryHeapUsedBytes)],
        ["external", formatBytes(stats.memoryExternalBytes)],
      ],
    ],
    ["journal", journalRows(stats)],
    ...fleetSections(stats),
  ];
  return sections.map(([title, rows]) => `${title}\n${keyValues(rows, "  ")}`).join("\n");
}

function journalRows(stats: GetStatsResponse): [string, string][] {
  const journal = stats.journal;
  if (journal === undefined) return [["state", "none (in memory only: history does not survive a restart)"]];
  const n = (value: bigint | number) => String(value);
  return [
    ["directory", journal.directory],
    ["fsync policy", journal.fsyncPolicy],
    ["segments", `${journal.segments} (${formatBytes(journal.bytes)})`],
    ["records appended", n(journal.recordsAppended)],
    ["writes", n(journal.writes)],
    ["fsyncs", n(journal.fsyncs)],
    ["segments deleted", n(journal.segmentsDeleted)],
    ["records replayed", n(journal.recordsReplayed)],
    ["problems", n(journal.problems)],
    ["backlog refused", n(journal.backlogRefused)],
    ["write failures", n(journal.writeFailures)],
    ["recoveries", n(journal.recoveries)],
  ];
}
