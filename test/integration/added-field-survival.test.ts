// The next schema, end to end across real processes (issue 13): a scratch copy
// of the repository gets two additive fields, EventEnvelope.analyst_note = 16
// and CorrelationMetadata.host_id = 10 (what scripts/check-breaking.sh accepts),
// is regenerated (buf generate) and built (tsc), and its broker runs as its own
// process. Events carrying both fields are published over Connect JSON
// (HTTP/1.1), Connect binary (the scratch TS client: publish and PublishStream)
// and gRPC (Python grpcio, stubs from the scratch proto/); then every read path
// must give both fields back, binary and JSON: FindByTag and GetTimeline over
// Connect JSON, Connect binary and gRPC, Subscribe replaying from event 1, and
// `corrbus find --json` / `corrbus timeline --json` of the scratch CLI; before
// a restart, after a SIGTERM restart and after a SIGKILL restart on the same
// data directory. The broker's own stamps still win: an event_id a publisher
// sends is ignored.
import { spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import http2 from "node:http2";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BrokerProcess, startBrokerProcess } from "../helpers/broker-process.js";
import { connectJsonHttp1 } from "../helpers/connect-json.js";
import { collectorsAvailable, missingCollector, pythonCommand } from "../helpers/language-collectors.js";
import { type ScratchSchemaTree, buildScratchSchemaTree } from "../helpers/scratch-schema-tree.js";

const { skip: skipPython } = collectorsAvailable("added-field-survival.test.ts", "python");
const pythonMissing = missingCollector("python");

/** The next release's fields: proto name, JSON name, declaration. */
const noteField = {
  file: "corrbus/v1/envelope.proto",
  message: "EventEnvelope",
  name: "analyst_note",
  json: "analystNote",
  declaration: "string analyst_note = 16;",
};
const hostField = {
  file: "corrbus/v1/correlation.proto",
  message: "CorrelationMetadata",
  name: "host_id",
  json: "hostId",
  declaration: "string host_id = 10;",
};

const fixture = "test/fixtures/added-fields/next-schema-client.ts";
const pythonFixture = "test/fixtures/added-fields/next_schema_grpc.py";

const run = Math.random().toString(36).slice(2, 8);
const investigation = `INC-NEXT-${randomBytes(4).toString("hex")}`;
const root = randomUUID();
const tag = `investigation_id=${investigation}`;
/** What every publisher sends as event_id (broker-stamped, so it must be ignored). */
const forgedEventId = "987654321";
/** The values each event carries, distinct per publish path so that nothing can be cross-wired. */
const noteFor = (path: string) => `${investigation}: analyst note via ${path}`;
const hostFor = (path: string) => `host-${run}-${path}`;

/** One event a publisher was told was stored. */
interface Published {
  path: string;
  id: string;
  topic: string;
}

/** One event as a read path gave it back: its id and the values of the two added fields (undefined when absent). */
interface ReadEvent {
  id: string;
  note: unknown;
  host: unknown;
}

interface Output {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runProgram(command: string, args: string[]): Promise<Output> {
  return new Promise((resolveRun) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.once("close", (code) => resolveRun({ code, stdout, stderr }));
  });
}

/** The JSON lines a program printed; fails naming the program when it failed. */
function jsonLines(what: string, output: Output): Record<string, any>[] {
  const lines = output.stdout
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => {
      try {
        return JSON.parse(line) as Record<string, any>;
      } catch {
        return { type: "text", text: line };
      }
    });
  const errors = lines.filter((line) => line.type === "error");
  if (output.code !== 0 || errors.length > 0) {
    throw new Error(`${what} exited with ${output.code}: ${JSON.stringify(errors)}\nstdout: ${output.stdout}\nstderr: ${output.stderr}`);
  }
  return lines;
}

/** One Connect unary call with JSON over HTTP/2 (node:http2 on the socket); the answer's JSON. */
function connectJsonHttp2(socketPath: string, method: string, body: unknown): Promise<any> {
  return new Promise((resolveCall, rejectCall) => {
    const session = http2.connect("http://localhost", { createConnection: () => connect(socketPath) });
    session.once("error", rejectCall);
    const stream = session.request({
      ":method": "POST",
      ":path": `/corrbus.v1.CorrelationService/${method}`,
      "content-type": "application/json",
      "connect-protocol-version": "1",
    });
    let status = 0;
    let text = "";
    stream.setEncoding("utf8");
    stream.on("response", (headers) => (status = Number(headers[":status"])));
    stream.on("data", (chunk) => (text += chunk));
    stream.on("end", () => {
      session.close();
      if (status !== 200) rejectCall(new Error(`${method} over Connect JSON (HTTP/2): HTTP ${status}: ${text}`));
      else resolveCall(JSON.parse(text));
    });
    stream.once("error", rejectCall);
    stream.end(JSON.stringify(body));
  });
}

/** Events of a Connect JSON answer (JSON names: analystNote, correlationMetadata.hostId). */
const fromConnectJson = (events: any[] = []): ReadEvent[] =>
  events.map((event) => ({ id: String(event.eventId), note: event[noteField.json], host: event.correlationMetadata?.[hostField.json] }));

/** Events of the CLI's --json output (proto names: analyst_note, correlation_metadata.host_id). */
const fromCliJson = (events: any[] = []): ReadEvent[] =>
  events.map((event) => ({ id: String(event.event_id), note: event[noteField.name], host: event.correlation_metadata?.[hostField.name] }));

/** Events as the fixtures report them (fields by proto name). */
const fromFixture = (events: any[] = []): ReadEvent[] =>
  events.map((event) => ({ id: String(event.id), note: event.fields[noteField.name], host: event.fields[`correlation_metadata.${hostField.name}`] }));

describe("fields added to the schema (EventEnvelope.analyst_note, CorrelationMetadata.host_id) through a broker built from that schema", () => {
  let tree: ScratchSchemaTree;
  let workDir: string;
  let socketPath: string;
  let dataDir: string;
  let broker: BrokerProcess | undefined;
  const published: Published[] = [];

  const startScratchBroker = async () => {
    broker = await startBrokerProcess(["--data-dir", dataDir], socketPath, { cliPath: tree.cliPath });
  };

  beforeAll(async () => {
    const started = performance.now();
    tree = await buildScratchSchemaTree({
      // CORRBUS_NEXT_SCHEMA_SOURCE: another checkout to build the scratch broker from (default: this working tree).
      source: process.env.CORRBUS_NEXT_SCHEMA_SOURCE || undefined,
      fields: [noteField, hostField],
      compile: ["test/fixtures/added-fields"],
      python: pythonMissing === undefined,
    });
    console.info(
      `added-field-survival: scratch tree ${tree.root} (from ${process.env.CORRBUS_NEXT_SCHEMA_SOURCE || "this working tree"}) built in ${Math.round(performance.now() - started)} ms ${JSON.stringify(tree.timings)}`,
    );
    workDir = mkdtempSync(join(tmpdir(), "corrbus-next-schema-run-"));
    socketPath = join(workDir, "run", "corrbus.sock");
    dataDir = join(workDir, "data");
    mkdirSync(dataDir, { recursive: true });
    await startScratchBroker();
  }, 240_000);

  afterAll(async () => {
    await broker?.stop();
    if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
    tree?.remove();
  });

  /** Runs the scratch TS client (compiled in the scratch tree). */
  const scratchClient = (mode: "publish" | "read", ...args: string[]) =>
    runProgram(process.execPath, [tree.compiled(fixture), mode, "--socket", socketPath, "--root", root, "--tag", tag, ...args]);

  /** Runs the Python gRPC client with the scratch stubs. */
  const pythonClient = (mode: "publish" | "read", ...args: string[]) =>
    runProgram(pythonCommand, [join(tree.root, pythonFixture), mode, "--gen", tree.pythonGen, "--socket", socketPath, "--root", root, "--tag", tag, ...args]);

  /**
   * Every published event is there, each with both fields as its publisher sent them; failures name
   * the read path, the phase and what is missing. Soft: one `it` reports every read path it covers.
   */
  function expectFieldsSurvived(where: string, events: ReadEvent[]) {
    expect
      .soft(
        events.map((event) => event.id),
        `${where}: the events published (by the ids their publishers were told)`,
      )
      .toEqual(published.map((event) => event.id));
    const lost: string[] = [];
    for (const want of published) {
      const got = events.find((event) => event.id === want.id);
      if (got === undefined) continue; // reported above
      if (got.note !== noteFor(want.path))
        lost.push(`event ${want.id} (via ${want.path}): ${noteField.name} is ${JSON.stringify(got.note)}, want ${JSON.stringify(noteFor(want.path))}`);
      if (got.host !== hostFor(want.path))
        lost.push(
          `event ${want.id} (via ${want.path}): correlation_metadata.${hostField.name} is ${JSON.stringify(got.host)}, want ${JSON.stringify(hostFor(want.path))}`,
        );
    }
    expect.soft(lost, `${where}: analyst_note and host_id on every event`).toEqual([]);
  }

  describe("publishing events of the next schema", () => {
    it("should accept one over Connect JSON (HTTP/1.1), with the JSON names analystNote and hostId", async () => {
      const path = "Connect JSON (HTTP/1.1)";
      const now = new Date().toISOString();
      const answer = await connectJsonHttp1(socketPath, "Publish", {
        envelope: {
          topic: "events.nextschema.json",
          payload: Buffer.from(`payload via ${path}`).toString("base64"),
          contentType: "text/plain",
          timestamp: now,
          publisherProcessId: process.pid,
          [noteField.json]: noteFor(path),
          correlationMetadata: {
            correlationId: root,
            rootCorrelationId: root,
            sequenceNumber: "1",
            workflowStage: "next-schema",
            sourceProcess: "next-schema-json",
            correlationTags: { investigation_id: investigation },
            startedAt: now,
            [hostField.json]: hostFor(path),
          },
          // Broker-stamped fields, forged: the broker must ignore them.
          eventId: forgedEventId,
          receivedAt: "2001-02-03T04:05:06Z",
          publisher: { pid: 1, verified: true, statedPid: 1 },
        },
      });
      expect(answer.eventId, `${path}: Publish answer ${JSON.stringify(answer)}`).toMatch(/^[1-9][0-9]*$/);
      published.push({ path, id: answer.eventId, topic: "events.nextschema.json" });
    });

    it("should accept one through publish() and a batch through PublishStream of the scratch TS client (Connect binary)", async () => {
      const lines = jsonLines(
        "the scratch TS client (publish)",
        await scratchClient(
          "publish",
          "--name",
          "next-schema-ts",
          "--batch",
          "2",
          "--forged-event-id",
          forgedEventId,
          "--envelope-field",
          `${noteField.name}=${noteFor("{path}")}`,
          "--metadata-field",
          `${hostField.name}=${hostFor("{path}")}`,
        ),
      );
      const acks = lines.filter((line) => line.type === "published");
      expect(acks.map((ack) => ack.path)).toEqual(["publish", "publishStream#0", "publishStream#1"]);
      for (const ack of acks) {
        // What the client sent: both fields with this path's values (so a loss below is the broker's).
        expect(ack.fields, `the scratch TS client's ${ack.path} envelope`).toEqual({
          [noteField.name]: noteFor(ack.path),
          [`correlation_metadata.${hostField.name}`]: hostFor(ack.path),
        });
        published.push({ path: ack.path, id: ack.id, topic: ack.topic });
      }
    });

    it.skipIf(skipPython)("should accept one over gRPC from Python (grpcio, stubs generated from the scratch proto/)", async () => {
      if (pythonMissing !== undefined) throw new Error(pythonMissing); // in CI a missing venv fails here, loudly
      const path = "grpc (python)";
      const lines = jsonLines(
        "the Python gRPC client (publish)",
        await pythonClient(
          "publish",
          "--forged-event-id",
          forgedEventId,
          "--envelope-field",
          `${noteField.name}=${noteFor(path)}`,
          "--metadata-field",
          `${hostField.name}=${hostFor(path)}`,
        ),
      );
      const [ack] = lines.filter((line) => line.type === "published");
      expect(ack.path).toBe(path);
      published.push({ path, id: ack.id, topic: ack.topic });
    });

    it("should stamp its own event_id, received_at and publisher over the ones publishers sent", async () => {
      const ids = published.map((event) => BigInt(event.id));
      expect(ids.map(String), `acknowledged ids (every publisher sent event_id ${forgedEventId})`).not.toContain(forgedEventId);
      expect(
        [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)),
        "acknowledged ids, strictly increasing in publish order",
      ).toEqual(ids);
      expect(new Set(ids).size).toBe(ids.length);

      const found = await connectJsonHttp1(socketPath, "FindByTag", { tags: { investigation_id: investigation }, oldestFirst: true });
      const json = found.events.find((event: any) => event.topic === "events.nextschema.json");
      expect(json?.eventId, "the Connect JSON event's stored event_id").toBe(published[0].id);
      expect(json?.receivedAt, "the Connect JSON event's received_at").not.toBe("2001-02-03T04:05:06Z");
      expect(Date.parse(json?.receivedAt), "the Connect JSON event's received_at is the broker's clock").toBeGreaterThan(Date.now() - 600_000);
      expect(json?.publisher?.pid, "the Connect JSON event's publisher.pid (the test process, verified or stated)").toBe(process.pid);
      expect(json?.publisher?.statedPid, "the Connect JSON event's publisher.stated_pid").toBe(process.pid);
    });
  });

  const phases = [
    { name: "before a restart", restart: undefined },
    { name: "after a SIGTERM restart", restart: "SIGTERM" },
    { name: "after a SIGKILL restart", restart: "SIGKILL" },
  ] as const;

  for (const phase of phases) {
    describe(`reading them back ${phase.name}`, () => {
      beforeAll(async () => {
        if (phase.restart === undefined) return;
        if (phase.restart === "SIGTERM") {
          expect(await broker!.stop(), "the scratch broker's exit code on SIGTERM").toBe(0);
        } else {
          expect(await broker!.kill()).toBe("SIGKILL");
          await broker!.stop(); // only removes the helper's directory: socket and data dir are the test's
        }
        await startScratchBroker();
      }, 60_000);

      it("should give both fields back from FindByTag and GetTimeline over Connect JSON (HTTP/1.1 and HTTP/2)", async () => {
        const request = { tags: { investigation_id: investigation }, oldestFirst: true, limit: 1000 };
        expectFieldsSurvived(
          `FindByTag, Connect JSON over HTTP/1.1, ${phase.name}`,
          fromConnectJson((await connectJsonHttp1(socketPath, "FindByTag", request)).events),
        );
        expectFieldsSurvived(
          `FindByTag, Connect JSON over HTTP/2, ${phase.name}`,
          fromConnectJson((await connectJsonHttp2(socketPath, "FindByTag", request)).events),
        );
        expectFieldsSurvived(
          `GetTimeline, Connect JSON over HTTP/1.1, ${phase.name}`,
          fromConnectJson((await connectJsonHttp1(socketPath, "GetTimeline", { rootCorrelationId: root })).events),
        );
      });

      for (const protocol of ["connect", "grpc"] as const) {
        it(`should give both fields back from FindByTag, GetTimeline and Subscribe (replay from event 1) over ${protocol === "connect" ? "Connect binary" : "gRPC"} to the scratch TS client`, async () => {
          const lines = jsonLines(
            `the scratch TS client (read, ${protocol})`,
            await scratchClient(
              "read",
              "--protocol",
              protocol,
              "--ids",
              published.map((event) => event.id).join(","),
              "--envelope-field",
              noteField.name,
              "--metadata-field",
              hostField.name,
            ),
          );
          const reads = lines.filter((line) => line.type === "read");
          expect(reads.map((read) => read.path)).toEqual([`FindByTag (${protocol})`, `GetTimeline (${protocol})`, `Subscribe from event 1 (${protocol})`]);
          for (const read of reads) {
            expect.soft(read.missing ?? [], `${read.path}, ${phase.name}: events the replay never delivered within 10 s`).toEqual([]);
            expectFieldsSurvived(`${read.path.replace("(connect", "(Connect binary").replace("(grpc", "(gRPC")}, ${phase.name}`, fromFixture(read.events));
          }
        });
      }

      it.skipIf(skipPython)("should give both fields back from FindByTag over gRPC to Python (grpcio)", async () => {
        if (pythonMissing !== undefined) throw new Error(pythonMissing);
        const lines = jsonLines(
          "the Python gRPC client (read)",
          await pythonClient("read", "--envelope-field", noteField.name, "--metadata-field", hostField.name),
        );
        const [read] = lines.filter((line) => line.type === "read");
        expectFieldsSurvived(`${read.path}, ${phase.name}`, fromFixture(read.events));
      });

      it("should give both fields back from `corrbus find --json` and `corrbus timeline --json` of the scratch CLI", async () => {
        const find = jsonLines(
          "corrbus find --json",
          await runProgram(process.execPath, [tree.cliPath, "find", "--tag", tag, "--oldest-first", "--json", "--socket", socketPath]),
        );
        expectFieldsSurvived(`corrbus find --json, ${phase.name}`, fromCliJson(find));
        const timeline = jsonLines(
          "corrbus timeline --json",
          await runProgram(process.execPath, [tree.cliPath, "timeline", root, "--json", "--socket", socketPath]),
        );
        expect(timeline).toHaveLength(1);
        expectFieldsSurvived(`corrbus timeline --json, ${phase.name}`, fromCliJson(timeline[0].events));
      });
    });
  }
});
