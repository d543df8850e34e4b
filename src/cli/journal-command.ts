import { statSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { toJson } from "@bufbuild/protobuf";
import { EventEnvelopeSchema } from "../../gen/corrbus/v1/envelope_pb.js";
import { EventIdReservation, defaultDataDirectory, scanJournal } from "../storage/index.js";
import { UsageError } from "./usage-error.js";

export const journalHelp = `Usage: corrbus journal verify|dump [options]

Reads the broker's journal without changing it (a running broker may keep
writing; its newest record can then look torn).

  verify   check every record's checksum and order; list problems, and
           how far event ids were reserved (new ids continue above).
           Exit 0 when the journal is sound, 1 when it has problems.
  dump     print every event as a JSON line (proto field names).

Options:
  --data-dir PATH   the broker's data directory (default: CORRBUS_DATA_DIR,
                    else $XDG_STATE_HOME/corrbus, else ~/.local/state/corrbus;
                    here ${defaultDataDirectory()})
  --from ID         dump: only events with event_id >= ID
  --to ID           dump: only events with event_id <= ID
  --json            verify: one JSON object instead of text
  -h, --help        this text

Exit codes: 0 sound (verify) or dumped, 1 problems or no journal at PATH,
2 usage.

Examples:
  corrbus journal verify
  CORRBUS_DATA_DIR=/var/lib/corrbus corrbus journal verify --json
  corrbus journal dump --from 1000 | jq -r .topic
`;

/** `corrbus journal verify|dump`. */
export async function journalCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      "data-dir": { type: "string" },
      from: { type: "string" },
      to: { type: "string" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(journalHelp);
    return 0;
  }
  const dataDirectory = values["data-dir"] ?? defaultDataDirectory();
  const directory = join(dataDirectory, "journal");
  const [action, ...rest] = positionals;
  if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
  if ((action === "verify" || action === "dump") && !isDirectory(directory)) {
    // An empty scan of a path that is not there would pass for a sound, empty journal.
    const why = isDirectory(dataDirectory)
      ? `no journal directory ${directory} (no broker has run with this data directory)`
      : `${dataDirectory} does not exist or is not a directory`;
    process.stderr.write(`corrbus journal: ${why}; give the broker's --data-dir (or CORRBUS_DATA_DIR)\n`);
    return 1;
  }
  if (action === "verify") return verify(directory, values.json);
  if (action === "dump") return dump(directory, eventId("from", values.from) ?? 0, eventId("to", values.to) ?? Number.MAX_SAFE_INTEGER);
  throw new UsageError(action === undefined ? "say verify or dump" : `"${action}" is not verify or dump`);
}

function isDirectory(path: string): boolean {
  return statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;
}

function verify(directory: string, json: boolean): number {
  const report = scanJournal(directory, false, { event: () => {} });
  // Ids up to here may have been handed out (and lost with a torn tail or a deleted segment): new ones continue above.
  const reserved = EventIdReservation.read(directory);
  if (json) {
    process.stdout.write(
      `${JSON.stringify({
        directory,
        segments: report.segments.map(({ name, bytes, records }) => ({ name, bytes, records })),
        records: report.records,
        workflow_facts: report.facts,
        first_event_id: report.firstId,
        last_event_id: report.lastId,
        event_ids_reserved_through: reserved,
        problems: report.problems,
      })}\n`,
    );
  } else {
    const range = report.records > 0 ? `, event_id ${report.firstId}..${report.lastId}` : "";
    process.stdout.write(`journal ${directory}: ${report.segments.length} segments, ${report.records} records${range}, ${report.facts} workflow facts\n`);
    for (const segment of report.segments) process.stdout.write(`  ${segment.name}  ${segment.records} records  ${segment.bytes} bytes\n`);
    process.stdout.write(`event ids reserved through ${reserved}: new events get ids above it\n`);
    process.stdout.write(report.problems.length === 0 ? "no problems\n" : `${report.problems.length} problems:\n`);
    for (const problem of report.problems) {
      const what = problem.action === "truncated" ? "torn tail, cut off when the broker starts" : "skipped";
      process.stdout.write(`  ${problem.segment} at byte ${problem.offset}: ${problem.bytes} bytes ${what} (${problem.reason})\n`);
    }
  }
  return report.problems.length === 0 ? 0 : 1;
}

function dump(directory: string, from: number, to: number): number {
  const report = scanJournal(directory, false, {
    event: (envelope) => {
      const id = Number(envelope.eventId);
      if (id < from || id > to) return;
      process.stdout.write(`${JSON.stringify(toJson(EventEnvelopeSchema, envelope, { useProtoFieldName: true }))}\n`);
    },
  });
  for (const problem of report.problems) process.stderr.write(`corrbus journal: ${problem.segment} at byte ${problem.offset}: ${problem.reason}\n`);
  return 0;
}

function eventId(flag: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw)) throw new UsageError(`--${flag}: "${raw}" is not an event id`);
  return Number(raw);
}
