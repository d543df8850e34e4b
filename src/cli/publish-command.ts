import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { create, toJson } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { type CorrelationMetadata, CorrelationMetadataSchema } from "../../gen/corrbus/v1/correlation_pb.js";
import { PublishResponseSchema } from "../../gen/corrbus/v1/service_pb.js";
import type { CorrelationClient } from "../client/correlation-client.js";
import { defaultCliSource, withClient } from "./cli-client.js";
import { commonHelp, commonOptions, positionals, sequenceNumber, tagPairs } from "./cli-options.js";
import { formatTime } from "./human-format.js";
import { keyValues, writeJson } from "./output-format.js";
import { UsageError } from "./usage-error.js";

/** The text of `corrbus publish --help`. */
export const publishHelp = `Usage: corrbus publish TOPIC [PAYLOAD] [options]

Publishes one event and prints its event_id and how many subscribers it
reached. PAYLOAD is the text of the argument, or the bytes of --file PATH, or
stdin when PAYLOAD (or PATH) is "-"; none means an empty payload.

Without correlation flags the event is a plain one. To take part in a workflow:
  --new-root          start one: a fresh correlation that is its own root
                      (the ids are printed, and in --json as correlation_metadata)
  --root ID           publish in the workflow's root step ID
  --parent ID         start a child step of correlation ID (a fresh correlation
                      id; its root is --root, or looked up from the broker)
  --correlation ID    publish within the existing step ID (root and parent are
                      --root/--parent, or looked up from the broker)

Options:
  --file PATH         read the payload from a file ("-": stdin)
  --content-type T    media type (default: application/json when the payload
                      parses as JSON, text/plain for other text,
                      application/octet-stream for binary)
  --stage NAME        workflow_stage, e.g. enumeration
  --source NAME       source_process (default ${defaultCliSource})
  --tag KEY=VALUE     a correlation tag to search by (repeatable); a child step
                      carries only the tags given here
  --final             this source's last event for the correlation (it answers
                      a task for delivery-tracked completion)
  --sequence N        sequence_number (default 0: not numbered, never a gap —
                      each run of the command is a new publisher)
${commonHelp}

Exit codes: 0 published, 1 refused by the broker or unreachable, 2 usage.

Examples:
  corrbus publish events.process.started '{"pid":4892,"exe":"/tmp/.x"}'
  corrbus publish control.collector.task.process '{"action":"list"}' \\
      --new-root --stage enumeration --tag investigation_id=INC-12345 --json
  corrbus publish control.collector.task.integrity --root ROOT --parent ROOT \\
      --stage integrity --tag suspicious_pid=4892
  jq -c . result.json | corrbus publish events.collector.enumeration.result - \\
      --correlation ID --source shell-collector --final
`;

/** `corrbus publish`: one event; answers the exit code. */
export async function publishCommand(args: string[]): Promise<number> {
  const { values, positionals: given } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      ...commonOptions,
      file: { type: "string" },
      "content-type": { type: "string" },
      stage: { type: "string" },
      source: { type: "string", default: defaultCliSource },
      tag: { type: "string", multiple: true, default: [] },
      "new-root": { type: "boolean", default: false },
      root: { type: "string" },
      parent: { type: "string" },
      correlation: { type: "string" },
      final: { type: "boolean", default: false },
      sequence: { type: "string" },
    },
  });
  if (values.help) {
    process.stdout.write(publishHelp);
    return 0;
  }
  const [topic, payloadArgument] = positionals(given, ["TOPIC", "PAYLOAD"], 1);
  const wanted: CorrelationWanted = {
    newRoot: values["new-root"],
    root: values.root,
    parent: values.parent,
    correlation: values.correlation,
    stage: values.stage ?? "",
    tags: tagPairs(values.tag),
  };
  checkCorrelationFlags(wanted, values.stage !== undefined || values.tag.length > 0 || values.final || values.sequence !== undefined);
  const sequence = values.sequence === undefined ? 0n : sequenceNumber("sequence", values.sequence);
  const payload = await readPayload(payloadArgument, values.file);
  const contentType = values["content-type"] ?? guessContentType(payload);

  return withClient(
    values.socket,
    async (client) => {
      const correlation = await correlationFor(wanted, client);
      const envelope = client.envelope(topic, payload, { correlation, final: values.final, contentType });
      // Each run is a publisher of its own: numbering only when asked for.
      if (envelope.correlationMetadata !== undefined) envelope.correlationMetadata.sequenceNumber = sequence;
      const response = await client.service.publish({ envelope });
      const meta = envelope.correlationMetadata;
      if (values.json) {
        const extra =
          meta === undefined ? {} : { correlation_metadata: toJson(CorrelationMetadataSchema, meta, { useProtoFieldName: true, alwaysEmitImplicit: true }) };
        writeJson(PublishResponseSchema, response, extra);
        return 0;
      }
      const lines: [string, string][] = [
        ["event_id", String(response.eventId)],
        ["delivered", `${response.deliveredCount} subscriber${response.deliveredCount === 1 ? "" : "s"}`],
        ["received", formatTime(response.receivedAt)],
      ];
      if (meta !== undefined) {
        lines.push(["correlation", meta.correlationId], ["root", meta.rootCorrelationId]);
        if (meta.parentCorrelationId !== undefined) lines.push(["parent", meta.parentCorrelationId]);
      }
      process.stdout.write(keyValues(lines));
      return 0;
    },
    values.source,
  );
}

/** What the correlation flags ask for. */
interface CorrelationWanted {
  newRoot: boolean;
  root?: string;
  parent?: string;
  correlation?: string;
  stage: string;
  tags: Record<string, string>;
}

function checkCorrelationFlags(wanted: CorrelationWanted, describesCorrelation: boolean): void {
  const continues = wanted.root !== undefined || wanted.parent !== undefined || wanted.correlation !== undefined;
  if (wanted.newRoot && continues) throw new UsageError("--new-root starts a workflow; it cannot go with --root, --parent or --correlation");
  if (!wanted.newRoot && !continues && describesCorrelation) {
    throw new UsageError("--stage, --tag, --final and --sequence describe a correlation: add --new-root, --root, --parent or --correlation");
  }
}

/** The correlation metadata the flags describe; asks the broker for ids the flags leave out. */
async function correlationFor(wanted: CorrelationWanted, client: CorrelationClient): Promise<CorrelationMetadata | undefined> {
  const { stage, tags } = wanted;
  if (wanted.newRoot) return client.newRootCorrelation(stage, tags);
  if (wanted.correlation !== undefined) {
    let root = wanted.root;
    let parent = wanted.parent;
    if (root === undefined) {
      const known = await lookUp(client, wanted.correlation, "--correlation", "give --root (and --parent) to publish in it anyway");
      root = known.rootCorrelationId;
      parent ??= known.parentCorrelationId;
    }
    return create(CorrelationMetadataSchema, {
      correlationId: wanted.correlation,
      rootCorrelationId: root,
      parentCorrelationId: parent,
      workflowStage: stage,
      sourceProcess: client.sourceProcess,
      correlationTags: tags,
    });
  }
  if (wanted.parent !== undefined) {
    const root = wanted.root ?? (await lookUp(client, wanted.parent, "--parent", "give --root to start a child step of it anyway")).rootCorrelationId;
    const parent = create(CorrelationMetadataSchema, { correlationId: wanted.parent, rootCorrelationId: root });
    return client.childCorrelation(parent, stage, tags);
  }
  if (wanted.root === undefined) return undefined;
  return create(CorrelationMetadataSchema, {
    correlationId: wanted.root,
    rootCorrelationId: wanted.root,
    workflowStage: stage,
    sourceProcess: client.sourceProcess,
    correlationTags: tags,
    startedAt: timestampNow(),
  });
}

async function lookUp(client: CorrelationClient, correlationId: string, flag: string, hint: string) {
  try {
    const { workflow } = await client.service.getWorkflow({ correlationId });
    if (workflow === undefined) throw new ConnectError(`correlation ${correlationId} is unknown`, Code.NotFound);
    return workflow;
  } catch (error) {
    const connectError = ConnectError.from(error);
    if (connectError.code !== Code.NotFound) throw connectError;
    throw new ConnectError(`${flag} ${correlationId}: ${connectError.rawMessage}; ${hint}`, Code.NotFound);
  }
}

async function readPayload(argument: string | undefined, file: string | undefined): Promise<Uint8Array> {
  if (argument !== undefined && file !== undefined) throw new UsageError("give the payload as an argument or with --file, not both");
  if (file === "-" || argument === "-") return readStdin();
  if (file !== undefined) return new Uint8Array(await readFile(file));
  return new TextEncoder().encode(argument ?? "");
}

async function readStdin(): Promise<Uint8Array> {
  if (process.stdin.isTTY) process.stderr.write("corrbus publish: reading the payload from stdin (end with Ctrl-D)\n");
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return new Uint8Array(Buffer.concat(chunks));
}

/** JSON, other text or binary: what a reader of the payload most likely wants to know. */
function guessContentType(payload: Uint8Array): string {
  if (payload.length === 0) return "";
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(payload);
  } catch {
    return "application/octet-stream";
  }
  try {
    JSON.parse(text);
    return "application/json";
  } catch {
    return "text/plain";
  }
}
