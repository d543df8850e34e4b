import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { create, toJson } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { type CorrelationMetadata, CorrelationMetadataSchema } from "../../gen/corrbus/v1/correlation_pb.js";
import type { WorkflowState } from "../../gen/corrbus/v1/workflow_pb.js";
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

An event in an existing step (--correlation, --root) inherits that step's stage
and tags, a child step (--parent) its parent's tags, as the broker knows them;
--stage and --tag add to or override them. --no-inherit takes only the flags.

Options:
  --file PATH         read the payload from a file ("-": stdin)
  --content-type T    media type (default: application/json when the payload
                      parses as JSON, text/plain for other text,
                      application/octet-stream for binary); a JSON type
                      (application/json, …+json) refuses a payload that
                      does not parse
  --stage NAME        workflow_stage, e.g. enumeration
  --source NAME       source_process (default ${defaultCliSource})
  --tag KEY=VALUE     a correlation tag to search by (repeatable)
  --no-inherit        take the stage and tags from the flags only
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
      "no-inherit": { type: "boolean", default: false },
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
    stage: values.stage,
    tags: tagPairs(values.tag),
    inherit: !values["no-inherit"],
  };
  checkCorrelationFlags(wanted, values.stage !== undefined || values.tag.length > 0 || values.final || values.sequence !== undefined || values["no-inherit"]);
  const sequence = values.sequence === undefined ? 0n : sequenceNumber("sequence", values.sequence);
  const payload = await readPayload(payloadArgument, values.file);
  const contentType = values["content-type"] ?? guessContentType(payload);
  if (values["content-type"] !== undefined) checkJsonPayload(contentType, payload);

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
  /** --stage; undefined: the step's own stage when inheriting, else none. */
  stage?: string;
  tags: Record<string, string>;
  /** Take the stage and tags the broker knows for the step (or the parent's tags) under the flags'. */
  inherit: boolean;
}

function checkCorrelationFlags(wanted: CorrelationWanted, describesCorrelation: boolean): void {
  const continues = wanted.root !== undefined || wanted.parent !== undefined || wanted.correlation !== undefined;
  if (wanted.newRoot && continues) throw new UsageError("--new-root starts a workflow; it cannot go with --root, --parent or --correlation");
  if (!wanted.newRoot && !continues && describesCorrelation) {
    throw new UsageError("--stage, --tag, --final, --sequence and --no-inherit describe a correlation: add --new-root, --root, --parent or --correlation");
  }
}

/** The correlation metadata the flags describe; asks the broker for ids (and, inheriting, stage and tags) the flags leave out. */
async function correlationFor(wanted: CorrelationWanted, client: CorrelationClient): Promise<CorrelationMetadata | undefined> {
  const { tags } = wanted;
  if (wanted.newRoot) return client.newRootCorrelation(wanted.stage ?? "", tags);
  if (wanted.correlation !== undefined) {
    let root = wanted.root;
    let parent = wanted.parent;
    let known: WorkflowState | undefined;
    if (root === undefined) {
      known = await lookUp(client, wanted.correlation, "--correlation", "give --root (and --parent) to publish in it anyway");
      root = known.rootCorrelationId;
      parent ??= known.parentCorrelationId;
    } else if (wanted.inherit) {
      known = await lookUpIfKnown(client, wanted.correlation);
    }
    return inStep(wanted, client, wanted.correlation, root, parent, known);
  }
  if (wanted.parent !== undefined) {
    let known: WorkflowState | undefined;
    if (wanted.root === undefined || wanted.inherit) {
      known =
        wanted.root === undefined
          ? await lookUp(client, wanted.parent, "--parent", "give --root to start a child step of it anyway")
          : await lookUpIfKnown(client, wanted.parent);
    }
    const root = wanted.root ?? (known as WorkflowState).rootCorrelationId;
    const inherited = wanted.inherit ? (known?.correlationTags ?? {}) : {};
    const parent = create(CorrelationMetadataSchema, { correlationId: wanted.parent, rootCorrelationId: root, correlationTags: inherited });
    return client.childCorrelation(parent, wanted.stage ?? "", tags);
  }
  if (wanted.root === undefined) return undefined;
  const known = wanted.inherit ? await lookUpIfKnown(client, wanted.root) : undefined;
  const meta = inStep(wanted, client, wanted.root, wanted.root, undefined, known);
  meta.startedAt = timestampNow();
  return meta;
}

/** Metadata within an existing step: its ids, and (inheriting) its first stage and its tags under the flags'. */
function inStep(
  wanted: CorrelationWanted,
  client: CorrelationClient,
  correlationId: string,
  rootCorrelationId: string,
  parentCorrelationId: string | undefined,
  known: WorkflowState | undefined,
): CorrelationMetadata {
  const inherited = wanted.inherit ? known : undefined;
  return create(CorrelationMetadataSchema, {
    correlationId,
    rootCorrelationId,
    parentCorrelationId,
    workflowStage: wanted.stage ?? inherited?.stages[0]?.name ?? "",
    sourceProcess: client.sourceProcess,
    correlationTags: { ...inherited?.correlationTags, ...wanted.tags },
  });
}

async function lookUp(client: CorrelationClient, correlationId: string, flag: string, hint: string): Promise<WorkflowState> {
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

/**
 * The step as the broker knows it, or undefined when it knows none (ids given
 * in full need no lookup). A malformed id is left to the publish, whose
 * refusal names the metadata field.
 */
async function lookUpIfKnown(client: CorrelationClient, correlationId: string): Promise<WorkflowState | undefined> {
  try {
    return (await client.service.getWorkflow({ correlationId })).workflow;
  } catch (error) {
    const connectError = ConnectError.from(error);
    if (connectError.code === Code.NotFound || connectError.code === Code.InvalidArgument) return undefined;
    throw connectError;
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

/** A JSON media type (application/json, application/problem+json, …). */
function isJsonType(contentType: string): boolean {
  const type = contentType.split(";")[0].trim().toLowerCase();
  return type === "application/json" || type.endsWith("+json");
}

/** A payload declared JSON must be JSON: a consumer that trusts the type would fail on it later. */
function checkJsonPayload(contentType: string, payload: Uint8Array): void {
  if (!isJsonType(contentType)) return;
  try {
    JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(payload));
  } catch (error) {
    throw new UsageError(`--content-type ${contentType}: the payload is not JSON (${error instanceof Error ? error.message : String(error)})`);
  }
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
