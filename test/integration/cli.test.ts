import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createProgress } from "../../src/cli/progress.js";
import { type CorrelationClient, createCorrelationClient } from "../../src/index.js";
import { type BrokerProcess, cliPath, runCli, startBrokerProcess } from "../helpers/broker-process.js";
import { type FixtureProcess, spawnFixture } from "../helpers/fixture-process.js";
import { LineReader } from "../helpers/line-reader.js";

type CliResult = { code: number | null; stdout: string; stderr: string };
type Json = Record<string, any>;

const commands = ["publish", "subscribe", "wait", "find", "timeline", "workflow", "stats", "ping", "socket"];
/** Every command with a --help, the ones above and those that take no --json or no broker. */
const allCommands = [...commands, "serve", "journal", "completion"];
const absentId = "11111111-2222-4333-8444-555555555555";

/** Every line of stdout as JSON. */
function jsonLines(stdout: string): Json[] {
  return stdout
    .trim()
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line));
}

/** The value of a "name  value" line of text output. */
function field(stdout: string, name: string): string {
  const match = new RegExp(`^${name} +(.*)$`, "m").exec(stdout);
  if (match === null) throw new Error(`no "${name}" line in:\n${stdout}`);
  return match[1];
}

describe("corrbus CLI against a live broker", () => {
  let broker: BrokerProcess;
  let env: NodeJS.ProcessEnv;
  let agent: CorrelationClient;
  let scratch: string;
  const fixtures: FixtureProcess[] = [];

  /** The CLI with CORRBUS_SOCKET pointing at the test's broker. */
  const cli = (...args: string[]) => runCli(args, env);

  /** The CLI with `input` on stdin. */
  function cliWithInput(args: string[], input: string | Buffer): Promise<CliResult> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [cliPath, ...args], { env, stdio: ["pipe", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (chunk) => (stdout += chunk));
      child.stderr.on("data", (chunk) => (stderr += chunk));
      child.once("exit", (code) => resolve({ code, stdout, stderr }));
      child.stdin.end(input);
    });
  }

  async function collector(name: string, ...args: string[]): Promise<FixtureProcess> {
    const fixture = spawnFixture("collector", ["--socket", broker.socketPath, "--name", name, ...args]);
    fixtures.push(fixture);
    await fixture.waitFor("ready");
    return fixture;
  }

  beforeAll(async () => {
    broker = await startBrokerProcess();
    env = { ...process.env, CORRBUS_SOCKET: broker.socketPath };
    agent = createCorrelationClient({ socketPath: broker.socketPath, sourceProcess: "agent" });
    scratch = mkdtempSync(join(tmpdir(), "corrbus-cli-test-"));
  });

  afterAll(async () => {
    agent.close();
    for (const fixture of fixtures) fixture.child.kill("SIGKILL");
    await broker.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  describe("help and usage", () => {
    it("should list every command in the top-level help, exit 0 for --help and 2 without a command", async () => {
      const help = await cli("--help");
      expect(help.code).toBe(0);
      for (const name of allCommands) expect(help.stdout).toMatch(new RegExp(`^  ${name} `, "m"));
      expect(help.stdout).toContain("3 incomplete");
      expect((await cli()).code).toBe(2);
      const unknown = await cli("frobnicate");
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toContain('corrbus: unknown command "frobnicate"');
    });

    it("should describe every command with --help, with examples, and exit 0", async () => {
      const results = await Promise.all(commands.map((name) => cli(name, "--help")));
      results.forEach((result, index) => {
        expect(result.code).toBe(0);
        expect(result.stdout).toContain(`Usage: corrbus ${commands[index]}`);
        expect(result.stdout).toContain("Examples:");
        expect(result.stdout).toContain("--json");
        expect(result.stdout).toContain("Exit codes:");
      });
    });

    it("should refuse an unknown flag on every command with exit 2, naming the flag", async () => {
      const results = await Promise.all(commands.map((name) => cli(name, "--bogus")));
      results.forEach((result, index) => {
        expect(result.code).toBe(2);
        expect(result.stderr).toContain(`corrbus ${commands[index]}: unknown option --bogus`);
        expect(result.stderr).toContain(`corrbus ${commands[index]} --help lists the options`);
        expect(result.stdout).toBe("");
      });
    });

    it("should align every --help's option descriptions in one column", async () => {
      const results = await Promise.all(allCommands.map((name) => cli(name, "--help")));
      results.forEach((result, index) => {
        expect(result.code).toBe(0);
        // "  --flag VALUE   description": where the description starts, for every option line that has one.
        const columns = new Set(
          result.stdout
            .split("\n")
            .filter((line) => /^ {2}-/.test(line))
            .map((line) => /^ {2}\S+(?: [A-Z][A-Z_.=]*)*( {2,})\S/.exec(line))
            .filter((match) => match !== null)
            .map((match) => (match?.index ?? 0) + (match?.[0].length ?? 0) - 1),
        );
        expect({ command: allCommands[index], columns: [...columns] }).toEqual({ command: allCommands[index], columns: [...columns].slice(0, 1) });
      });
    });

    it("should name CORRBUS_DATA_DIR in journal --help, as serve --help does", async () => {
      const journal = await cli("journal", "--help");
      expect(journal.code).toBe(0);
      expect(journal.stdout).toContain("CORRBUS_DATA_DIR");
    });

    it("should refuse missing and extra arguments and bad flag values with exit 2", async () => {
      const cases: [string[], string][] = [
        [["publish"], "missing TOPIC"],
        [["publish", "events.a", "x", "y"], 'unexpected argument "y"'],
        [["publish", "events.a", "--root"], "argument missing"],
        [["publish", "events.a", "--tag", "k=v"], "describe a correlation: add --new-root"],
        [["publish", "events.a", "--new-root", "--root", absentId], "--new-root starts a workflow"],
        [["publish", "events.a", "x", "--file", "f"], "as an argument or with --file, not both"],
        [["publish", "events.a", "--new-root", "--tag", "novalue"], '--tag: "novalue" is not key=value'],
        [["publish", "events.a", "--new-root", "--tag", "__proto__=p"], '--tag: the tag key "__proto__" is reserved'],
        [["publish", "events.a", "--new-root", "--sequence", "x"], '--sequence: "x" is not'],
        [["subscribe"], "missing PATTERN"],
        [["subscribe", "events.#", "--group", "g", "--from", "1"], "--from replays history"],
        [["subscribe", "events.#", "--count", "0"], '--count: "0" is not a positive integer'],
        [["wait"], "missing CORRELATION_ID"],
        [["wait", absentId, "--timeout", "soon"], '--timeout: "soon" is not a duration'],
        [["wait", absentId, "--timeout", "2h"], "--timeout: 2h is longer than the broker waits (1h)"],
        [["find"], "missing --tag"],
        [["find", "--tag", "a=b", "--since", "yesterday"], '--since: "yesterday" is not an ISO 8601 time'],
        [["find", "--tag", "a=b", "--limit", "ten"], '--limit: "ten" is not a positive integer'],
        [["timeline"], "missing ROOT"],
        [["workflow"], "missing CORRELATION_ID"],
        [["stats", "now"], 'unexpected argument "now"'],
        [["socket", "now"], 'unexpected argument "now"'],
        [["ping", "--timeout", "soon"], '--timeout: "soon" is not a duration'],
        [["subscribe", "events.#", "--raw", "--json"], "--raw prints payloads only, --json whole events: drop one"],
        [["completion"], "missing SHELL"],
        [["completion", "fish"], '"fish" is not a shell this command writes completion for: bash'],
      ];
      const results = await Promise.all(cases.map(([args]) => cli(...args)));
      results.forEach((result, index) => {
        expect({ args: cases[index][0], code: result.code }).toEqual({ args: cases[index][0], code: 2 });
        expect(result.stderr).toContain(cases[index][1]);
      });
    });

    it("should exit 1 naming the socket when no broker listens there", async () => {
      const result = await runCli(["stats", "--socket", join(scratch, "nobody.sock")], env);
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(
        `corrbus stats: UNAVAILABLE: no broker listening on ${join(scratch, "nobody.sock")} (ENOENT): start \`corrbus serve\` or set CORRBUS_SOCKET\n`,
      );
    });
  });

  describe("publish", () => {
    it("should publish a plain event and print its event_id and delivered count as text", async () => {
      const result = await cli("publish", "events.cli.plain", '{"pid":4892}');
      expect(result.code).toBe(0);
      expect(result.stderr).toBe("");
      const id = BigInt(field(result.stdout, "event_id"));
      expect(field(result.stdout, "delivered")).toBe("0 subscribers");
      expect(field(result.stdout, "received")).toMatch(/^\d{4}-\d\d-\d\dT.*Z$/);
      const stored = await agent.service.getStats({});
      expect(stored.lastEventId).toBeGreaterThanOrEqual(id);
    });

    it("should start a workflow with --new-root and print the PublishResponse with the correlation as JSON", async () => {
      // Tag keys that name Object.prototype members are tags like any other.
      const result = await cli(
        "publish",
        "events.cli.start",
        '{"a":1}',
        "--new-root",
        "--stage",
        "enumeration",
        "--tag",
        "case=new-root",
        "--tag",
        "constructor=c",
        "--json",
      );
      expect(result.code).toBe(0);
      const [line, ...rest] = jsonLines(result.stdout);
      expect(rest).toEqual([]);
      expect(Object.keys(line)).toEqual(expect.arrayContaining(["event_id", "delivered_count", "received_at", "correlation_metadata"]));
      expect(line.delivered_count).toBe(0);
      const meta = line.correlation_metadata;
      expect(meta.correlation_id).toBe(meta.root_correlation_id);
      expect(meta).toMatchObject({ workflow_stage: "enumeration", source_process: "corrbus-cli", final: false });
      expect(Object.entries(meta.correlation_tags)).toEqual([
        ["case", "new-root"],
        ["constructor", "c"],
      ]);
      const found = await agent.service.findByTag({ tags: { case: "new-root" } });
      expect(found.events.map((event) => String(event.eventId))).toEqual([line.event_id]);
      expect(found.events[0].contentType).toBe("application/json");
      expect(new TextDecoder().decode(found.events[0].payload)).toBe('{"a":1}');
    });

    it("should take the payload from --file and from stdin, guessing the content type", async () => {
      const root = agent.newRootCorrelation("files");
      const file = join(scratch, "payload.bin");
      writeFileSync(file, Buffer.from([0, 1, 2, 255]));
      const fromFile = await cli("publish", "events.cli.file", "--file", file, "--root", root.correlationId, "--tag", "case=payload");
      expect(fromFile.code).toBe(0);
      const fromStdin = await cliWithInput(["publish", "events.cli.stdin", "-", "--root", root.correlationId, "--tag", "case=payload"], "line one\nline two\n");
      expect(fromStdin.code).toBe(0);
      const typed = await cliWithInput(
        ["publish", "events.cli.stdin", "--file", "-", "--content-type", "application/x-ndjson", "--root", root.correlationId, "--tag", "case=payload"],
        '{"n":1}\n{"n":2}\n',
      );
      expect(typed.code).toBe(0);
      const found = await agent.service.findByTag({ tags: { case: "payload" }, oldestFirst: true });
      expect(found.events.map((event) => [event.topic, event.contentType, Buffer.from(event.payload).toString("hex")])).toEqual([
        ["events.cli.file", "application/octet-stream", "000102ff"],
        ["events.cli.stdin", "text/plain", Buffer.from("line one\nline two\n").toString("hex")],
        ["events.cli.stdin", "application/x-ndjson", Buffer.from('{"n":1}\n{"n":2}\n').toString("hex")],
      ]);
      expect(found.events.every((event) => event.correlationMetadata?.correlationId === root.correlationId)).toBe(true);
    });

    it("should continue a workflow: a child step with --parent (root looked up or given) and an answer with --correlation", async () => {
      const root = agent.newRootCorrelation("enumeration", { case: "continue" });
      await agent.publish("events.cli.root", "root", { correlation: root });

      const child = await cli("publish", "events.cli.child", "c", "--parent", root.correlationId, "--stage", "integrity", "--tag", "case=continue");
      expect(child.code).toBe(0);
      const childId = field(child.stdout, "correlation");
      expect(childId).not.toBe(root.correlationId);
      expect(field(child.stdout, "root")).toBe(root.correlationId);
      expect(field(child.stdout, "parent")).toBe(root.correlationId);

      const grandchild = await cli("publish", "events.cli.grandchild", "g", "--root", root.correlationId, "--parent", childId, "--stage", "network", "--json");
      expect(grandchild.code).toBe(0);
      const grandchildMeta = jsonLines(grandchild.stdout)[0].correlation_metadata;
      expect(grandchildMeta).toMatchObject({ parent_correlation_id: childId, root_correlation_id: root.correlationId, workflow_stage: "network" });

      const answer = await cli("publish", "events.cli.answer", "done", "--correlation", childId, "--source", "shell-collector", "--final", "--sequence", "1");
      expect(answer.code).toBe(0);
      expect(field(answer.stdout, "parent")).toBe(root.correlationId);
      const { workflow } = await agent.service.getWorkflow({ correlationId: childId });
      expect(workflow?.depth).toBe(1);
      expect(workflow?.childCorrelationIds).toEqual([grandchildMeta.correlation_id]);
      const shell = workflow?.participants.find((participant) => participant.sourceProcess === "shell-collector");
      expect(shell).toMatchObject({ finalSent: true, lastSequenceNumber: 1n, eventCount: 1n });
    });

    it("should inherit the step's stage and tags with --correlation and --root, the parent's tags with --parent, neither with --no-inherit", async () => {
      const start = await cli(
        "publish",
        "control.cli.inherit",
        '{"task":1}',
        "--new-root",
        "--stage",
        "enumeration",
        "--tag",
        "investigation_id=INC-77",
        "--json",
      );
      const rootId = jsonLines(start.stdout)[0].correlation_metadata.correlation_id;
      const answer = await cli("publish", "events.cli.inherit.answer", '{"a":1}', "--correlation", rootId, "--source", "shell-collector", "--json");
      expect(jsonLines(answer.stdout)[0].correlation_metadata).toMatchObject({
        workflow_stage: "enumeration",
        correlation_tags: { investigation_id: "INC-77" },
      });
      const inRoot = await cli("publish", "events.cli.inherit.root", "r", "--root", rootId, "--tag", "host=web-1", "--json");
      expect(jsonLines(inRoot.stdout)[0].correlation_metadata).toMatchObject({
        workflow_stage: "enumeration",
        correlation_tags: { investigation_id: "INC-77", host: "web-1" },
      });
      const child = await cli("publish", "events.cli.inherit.child", "c", "--parent", rootId, "--stage", "integrity", "--tag", "suspicious_pid=4892", "--json");
      const childMeta = jsonLines(child.stdout)[0].correlation_metadata;
      expect(childMeta).toMatchObject({ workflow_stage: "integrity", correlation_tags: { investigation_id: "INC-77", suspicious_pid: "4892" } });
      // A grandchild inherits through the child, and an answer in the child takes the child's stage.
      const grandchild = await cli("publish", "events.cli.inherit.grandchild", "g", "--parent", childMeta.correlation_id, "--json");
      expect(jsonLines(grandchild.stdout)[0].correlation_metadata.correlation_tags).toEqual({ investigation_id: "INC-77", suspicious_pid: "4892" });
      const childAnswer = await cli("publish", "events.cli.inherit.child.answer", "a", "--correlation", childMeta.correlation_id, "--json");
      expect(jsonLines(childAnswer.stdout)[0].correlation_metadata.workflow_stage).toBe("integrity");
      const bare = await cli("publish", "events.cli.inherit.bare", "b", "--parent", rootId, "--no-inherit", "--json");
      expect(jsonLines(bare.stdout)[0].correlation_metadata).toMatchObject({ workflow_stage: "", correlation_tags: {} });
      const bareAnswer = await cli("publish", "events.cli.inherit.bare", "b", "--correlation", rootId, "--no-inherit", "--json");
      expect(jsonLines(bareAnswer.stdout)[0].correlation_metadata).toMatchObject({ workflow_stage: "", correlation_tags: {} });

      // What the user searched for: every event of the investigation but the two published --no-inherit.
      const found = await cli("find", "--tag", "investigation_id=INC-77", "--all", "--json");
      expect(
        jsonLines(found.stdout)
          .map((event) => event.topic)
          .sort(),
      ).toEqual([
        "control.cli.inherit",
        "events.cli.inherit.answer",
        "events.cli.inherit.child",
        "events.cli.inherit.child.answer",
        "events.cli.inherit.grandchild",
        "events.cli.inherit.root",
      ]);
      const { workflow } = await agent.service.getWorkflow({ correlationId: childMeta.correlation_id });
      expect(workflow?.correlationTags).toEqual({ investigation_id: "INC-77", suspicious_pid: "4892" });
      expect(field((await cli("workflow", childMeta.correlation_id)).stdout, "tags")).toBe("investigation_id=INC-77, suspicious_pid=4892");
    });

    it("should refuse a payload that does not parse as the JSON its --content-type declares, storing nothing", async () => {
      const before = (await agent.service.getStats({})).lastEventId;
      const refused = await cli("publish", "events.cli.badjson", "{pid: 4892", "--content-type", "application/json");
      expect(refused.code).toBe(2);
      expect(refused.stdout).toBe("");
      expect(refused.stderr).toContain("corrbus publish: --content-type application/json: the payload is not JSON (");
      const problem = await cli("publish", "events.cli.badjson", "nope", "--content-type", "application/problem+json; charset=utf-8");
      expect(problem.code).toBe(2);
      expect((await agent.service.getStats({})).lastEventId).toBe(before);
      const good = await cli("publish", "events.cli.goodjson", '{"pid":4892}', "--content-type", "application/json");
      expect(good.code).toBe(0);
    });

    it("should exit 1 with the broker's code and message when it refuses the event or the parent is unknown", async () => {
      const invalid = await cli("publish", "metrics.cpu", "1");
      expect(invalid.code).toBe(1);
      expect(invalid.stdout).toBe("");
      expect(invalid.stderr).toBe('corrbus publish: INVALID_ARGUMENT: topic: first segment "metrics" of "metrics.cpu" must be "events" or "control"\n');
      const badId = await cli("publish", "events.cli.x", "--root", "not-a-uuid");
      expect(badId.code).toBe(1);
      expect(badId.stderr).toContain("INVALID_ARGUMENT: correlation_metadata.correlation_id:");
      const unknownParent = await cli("publish", "events.cli.x", "--parent", absentId);
      expect(unknownParent.code).toBe(1);
      expect(unknownParent.stderr).toContain(`corrbus publish: NOT_FOUND: --parent ${absentId}:`);
      expect(unknownParent.stderr).toContain("give --root to start a child step of it anyway");
    });
  });

  describe("subscribe", () => {
    let first: bigint;

    beforeAll(async () => {
      first = (await agent.publish("events.cli.sub.one", "first payload")).eventId;
      await agent.publish("events.cli.sub.two", { n: 2 });
      await agent.publish("events.cli.other", "not matched");
      await agent.publish("events.cli.sub.three", new Uint8Array([0, 159, 146, 150]));
    });

    it("should replay from --from and exit 0 after --count events, one text line each", async () => {
      const result = await cli("subscribe", "events.cli.sub.#", "--from", String(first), "--count", "3");
      expect(result.code).toBe(0);
      const lines = result.stdout.trim().split("\n");
      expect(lines).toHaveLength(3);
      expect(lines[0]).toMatch(new RegExp(`^#${first}  \\d{4}-\\d\\d-\\d\\dT\\S+Z  events\\.cli\\.sub\\.one  -  -  -  first payload$`));
      expect(lines[1]).toContain('events.cli.sub.two  -  -  -  {"n":2}');
      expect(lines[2]).toMatch(/events\.cli\.sub\.three .* <4 bytes>$/);
    });

    it("should print EventEnvelope JSON lines with proto field names", async () => {
      const result = await cli("subscribe", "events.cli.sub.+", "events.cli.other", "--from", String(first), "--count", "4", "--json");
      expect(result.code).toBe(0);
      const events = jsonLines(result.stdout);
      expect(events.map((event) => event.topic)).toEqual(["events.cli.sub.one", "events.cli.sub.two", "events.cli.other", "events.cli.sub.three"]);
      expect(events[0].event_id).toBe(String(first));
      expect(Buffer.from(events[0].payload, "base64").toString()).toBe("first payload");
      expect(events[0].publisher.pid).toBeGreaterThan(0);
      expect(events[0]).toHaveProperty("received_at");
    });

    it("should print live events until SIGINT, then exit 0", async () => {
      const child = spawn(process.execPath, [cliPath, "subscribe", "events.cli.live.#", "--name", "cli-live"], { env, stdio: ["ignore", "pipe", "pipe"] });
      const stdout = new LineReader(child.stdout);
      let stderr = "";
      child.stderr.on("data", (chunk) => (stderr += chunk));
      const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
      const before = (await agent.service.getStats({})).subscribers;
      const deadline = Date.now() + 10_000;
      while ((await agent.service.getStats({})).subscribers <= before) {
        if (Date.now() > deadline) throw new Error(`the CLI subscriber did not register; stderr: ${stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const sent = await agent.publish("events.cli.live.now", "hello live");
      expect(sent.deliveredCount).toBe(1);
      const line = await stdout.waitFor((text) => text.includes("events.cli.live.now"), 10_000);
      expect(line).toMatch(new RegExp(`^#${sent.eventId} .* hello live$`));
      child.kill("SIGINT");
      expect(await exited).toBe(0);
      expect(stderr).toBe(""); // Piped: no progress or notices.
    });

    it("should print only the payload bytes with --raw, each followed by a newline", async () => {
      const raw = await new Promise<Buffer>((resolve) => {
        const child = spawn(process.execPath, [cliPath, "subscribe", "events.cli.sub.#", "--from", String(first), "--count", "3", "--raw"], { env });
        const chunks: Buffer[] = [];
        child.stdout.on("data", (chunk: Buffer) => chunks.push(chunk));
        child.once("close", () => resolve(Buffer.concat(chunks)));
      });
      expect(raw.equals(Buffer.concat([Buffer.from('first payload\n{"n":2}\n'), Buffer.from([0, 159, 146, 150, 10])]))).toBe(true);
    });

    it("should exit 1 on a bad pattern and when no broker listens", async () => {
      const bad = await cli("subscribe", "events..x");
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain("corrbus subscribe: INVALID_ARGUMENT: patterns[0]:");
      const nobody = await runCli(["subscribe", "events.#", "--socket", join(scratch, "nobody.sock")], env);
      expect(nobody.code).toBe(1);
      expect(nobody.stderr).toContain("corrbus subscribe: UNAVAILABLE: no broker listening on");
    });
  });

  describe("wait", () => {
    it("should exit 0 once every collector a task reached has answered, in text and JSON", async () => {
      await collector("cli-process-monitor");
      await collector("cli-file-monitor", "--results", "2");
      const task = await cli("publish", "control.collector.task.process", '{"list":"processes"}', "--new-root", "--stage", "enumeration", "--json");
      const meta = jsonLines(task.stdout)[0].correlation_metadata;
      expect(jsonLines(task.stdout)[0].delivered_count).toBe(2);

      const text = await cli("wait", meta.correlation_id, "--timeout", "10s");
      expect(text.code).toBe(0);
      expect(field(text.stdout, "outcome")).toBe("complete (all recipients answered)");
      expect(field(text.stdout, "results")).toBe("3");
      expect(field(text.stdout, "pending")).toBe("-");
      expect(text.stdout).toMatch(/^EVENT_ID +RECEIVED +TOPIC +SOURCE +STAGE +FINAL +CORRELATION +PAYLOAD$/m);
      expect(text.stdout.match(/events\.collector\.enumeration\.result/g)).toHaveLength(3);

      const json = await cli("wait", meta.correlation_id, "--json", "--omit-payloads");
      expect(json.code).toBe(0);
      const [answer] = jsonLines(json.stdout);
      expect(answer).toMatchObject({ complete: true, reason: "COMPLETION_REASON_ALL_RECIPIENTS_ANSWERED", pending_sources: [], truncated: false });
      expect(answer.events.map((event: Json) => event.correlation_metadata.source_process).sort()).toEqual([
        "cli-file-monitor",
        "cli-file-monitor",
        "cli-process-monitor",
      ]);
      expect(answer.events.every((event: Json) => event.payload === "")).toBe(true);
    });

    it("should exit 3 when the deadline passes first, naming what is still pending", async () => {
      const root = agent.newRootCorrelation("slow");
      await agent.publish("events.cli.partial", "one of two", { correlation: root });
      const started = Date.now();
      const text = await cli("wait", root.correlationId, "--expected-results", "2", "--timeout", "300ms");
      expect(text.code).toBe(3);
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(field(text.stdout, "outcome")).toBe("incomplete (deadline)");
      expect(field(text.stdout, "results")).toBe("1");
      expect(text.stderr).toBe("");

      const json = await cli("wait", root.correlationId, "--expected-source", "never-answers", "--timeout", "200ms", "--json");
      expect(json.code).toBe(3);
      expect(jsonLines(json.stdout)[0]).toMatchObject({ complete: false, reason: "COMPLETION_REASON_DEADLINE", pending_sources: ["never-answers"] });
    });

    it("should exit 1 at once, not after the timeout, for an id the broker has never seen", async () => {
      const started = Date.now();
      const result = await cli("wait", absentId, "--timeout", "30s");
      expect(result.code).toBe(1);
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(result.stdout).toBe("");
      expect(result.stderr).toContain(`corrbus wait: NOT_FOUND: correlation ${absentId} was never seen by the broker`);
    });

    it("should exit 1 when the broker refuses the wait", async () => {
      const result = await cli("wait", "not-a-uuid", "--timeout", "1s");
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('corrbus wait: INVALID_ARGUMENT: correlation_id: "not-a-uuid" is not a UUID');
    });
  });

  describe("find", () => {
    const ids: string[] = [];

    beforeAll(async () => {
      const root = agent.newRootCorrelation("search", { investigation_id: "INC-CLI", host: "web-1" });
      for (let i = 1; i <= 5; i++) {
        const topic = i % 2 === 0 ? "events.network.flow" : "events.process.started";
        ids.push(String((await agent.publish(topic, { i }, { correlation: root })).eventId));
      }
      await agent.publish("events.process.started", "other case", { correlation: agent.newRootCorrelation("other", { investigation_id: "INC-OTHER" }) });
    });

    it("should print one page as a table, newest first, with the token for the next page", async () => {
      const result = await cli("find", "--tag", "investigation_id=INC-CLI", "--limit", "2");
      expect(result.code).toBe(0);
      const lines = result.stdout.trim().split("\n");
      expect(lines[0]).toMatch(/^EVENT_ID +RECEIVED +TOPIC +SOURCE +STAGE +FINAL +CORRELATION +PAYLOAD$/);
      expect(lines.slice(1, 3).map((line) => line.split(/\s+/)[0])).toEqual([ids[4], ids[3]]);
      const token = /^2 events \(more: --page-token (\S+), or --all\)$/.exec(lines[3])?.[1];
      expect(token).toBeDefined();
      const next = await cli("find", "--tag", "investigation_id=INC-CLI", "--limit", "2", "--page-token", token as string, "--json");
      expect(jsonLines(next.stdout).map((event) => event.event_id)).toEqual([ids[2], ids[1]]);
      expect(next.stderr).toMatch(/^corrbus find: more events: --page-token \S+ \(or --all\)\n$/);
    });

    it("should follow every page with --all, oldest first, quietly when piped", async () => {
      const json = await cli("find", "--tag", "investigation_id=INC-CLI", "--tag", "host=web-1", "--all", "--oldest-first", "--limit", "2", "--json");
      expect(json.code).toBe(0);
      expect(json.stderr).toBe("");
      const events = jsonLines(json.stdout);
      expect(events.map((event) => event.event_id)).toEqual(ids);
      expect(events[0].correlation_metadata.correlation_tags).toEqual({ investigation_id: "INC-CLI", host: "web-1" });
      const text = await cli("find", "--tag", "investigation_id=INC-CLI", "--all", "--limit", "2", "--topic", "events.network.#");
      expect(text.code).toBe(0);
      expect(text.stderr).toBe("");
      expect(
        text.stdout
          .trim()
          .split("\n")
          .slice(1, -1)
          .map((line) => line.split(/\s+/)[0]),
      ).toEqual([ids[3], ids[1]]);
      expect(text.stdout.trim().split("\n").at(-1)).toBe("2 events");
    });

    it("should answer nothing found with exit 0, a time window, and a bad pattern with exit 1", async () => {
      const none = await cli("find", "--tag", "investigation_id=INC-NOBODY");
      expect(none).toMatchObject({ code: 0, stdout: "0 events\n" });
      const future = await cli("find", "--tag", "investigation_id=INC-CLI", "--since", "2999-01-01T00:00:00Z", "--json");
      expect(future).toMatchObject({ code: 0, stdout: "" });
      const past = await cli("find", "--tag", "investigation_id=INC-CLI", "--until", "2999-01-01", "--json", "--limit", "1000");
      expect(jsonLines(past.stdout)).toHaveLength(5);
      const bad = await cli("find", "--tag", "investigation_id=INC-CLI", "--topic", "events..x");
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain("corrbus find: INVALID_ARGUMENT: topic_pattern");
    });
  });

  describe("timeline and workflow", () => {
    let rootId: string;
    let childId: string;
    let orphanId: string;

    beforeAll(async () => {
      await collector("tl-process-monitor", "--pattern", "control.timeline.#");
      const task = await cli("publish", "control.timeline.task", '{"step":1}', "--new-root", "--stage", "enumeration", "--tag", "case=timeline", "--json");
      rootId = jsonLines(task.stdout)[0].correlation_metadata.correlation_id;
      expect((await cli("wait", rootId, "--timeout", "10s")).code).toBe(0);
      const child = await cli("publish", "events.timeline.note", "first", "--parent", rootId, "--stage", "integrity", "--source", "shell", "--sequence", "1");
      childId = field(child.stdout, "correlation");
      // Sequence 4 after 1: the broker reports 2..3 as a gap.
      await cli("publish", "events.timeline.note", "fourth", "--correlation", childId, "--stage", "integrity", "--source", "shell", "--sequence", "4");
      const orphan = await cli("publish", "events.timeline.late", "lost", "--root", rootId, "--parent", absentId, "--stage", "late", "--source", "ghost");
      orphanId = field(orphan.stdout, "correlation");
    });

    it("should draw the correlation tree with stages, durations, participants, orphans and gaps", async () => {
      const result = await cli("timeline", rootId);
      expect(result.code).toBe(0);
      expect(result.stderr).toBe("");
      const out = result.stdout;
      const lines = out.split("\n");
      expect(lines[0]).toBe(`workflow ${rootId}`);
      expect(lines[1]).toMatch(/^5 events in 3 correlations, \S+Z → \+\S+$/);
      expect(lines[2]).toBe("1 orphan, 1 sequence gap");
      expect(out).toMatch(new RegExp(`^${rootId}  enumeration  complete  2 events  \\+0ms → \\+\\S+ \\(\\S+\\)$`, "m"));
      expect(out).toMatch(/^│ {2}stage +enumeration: 2 events, \+0ms → \+\S+ \(\S+\), completed \+\S+$/m);
      expect(out).toMatch(/^│ {2}participants +corrbus-cli pid \d+: 1 event$/m);
      expect(out).toMatch(/^│ +tl-process-monitor pid \d+: 1 event, final$/m);
      expect(out).toMatch(/^│ {2}deliveries +tl-process-monitor: answered$/m);
      expect(out).toMatch(/^│ {2}events +#\d+ +\+0ms {2}control\.timeline\.task +corrbus-cli +enumeration +\{"step":1\}$/m);
      expect(out).toMatch(new RegExp(`^└─ ${childId}  integrity  open  2 events  \\+\\S+ → \\+\\S+ \\(\\S+\\)  GAP$`, "m"));
      expect(out).toMatch(/^ {3} {3}GAP +shell skipped sequence 2\.\.3$/m);
      expect(out).toContain(`ORPHAN  parent ${absentId} was never seen by the broker`);
      expect(out).toMatch(new RegExp(`^${orphanId}  late  open  1 event  .*ORPHAN$`, "m"));
      // Parents before children, the orphan after the root's tree.
      expect(out.indexOf(childId)).toBeLessThan(out.indexOf(orphanId));
    });

    it("should print the GetTimelineResponse as one JSON line, every page merged, and write --html", async () => {
      const html = join(scratch, "timeline.html");
      const result = await cli("timeline", rootId, "--json", "--omit-payloads", "--page-size", "2", "--html", html);
      expect(result.code).toBe(0);
      const [timeline, ...rest] = jsonLines(result.stdout);
      expect(rest).toEqual([]);
      expect(timeline.truncated).toBe(false);
      expect(timeline.events).toHaveLength(5);
      const eventIds = timeline.events.map((event: Json) => Number(event.event_id));
      expect(eventIds).toEqual([...eventIds].sort((a, b) => a - b));
      expect(timeline.events.every((event: Json) => event.payload === "")).toBe(true);
      expect(timeline.correlations.map((state: Json) => state.correlation_id)).toEqual([rootId, childId, orphanId]);
      expect(timeline.correlations[2]).toMatchObject({ orphan: true, parent_correlation_id: absentId });
      expect(timeline.correlations[1].gaps).toEqual([{ source_process: "shell", first_missing: "2", last_missing: "3" }]);
      const page = readFileSync(html, "utf8");
      expect(page.startsWith("<!DOCTYPE html>")).toBe(true);
      expect(page).toContain(rootId);
    });

    it("should exit 1 for an unknown workflow, and name the root when given a step's id", async () => {
      const result = await cli("timeline", absentId);
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(`corrbus timeline: NOT_FOUND: no workflow with root_correlation_id ${absentId} in history\n`);
      const step = await cli("timeline", childId);
      expect(step.code).toBe(1);
      expect(step.stderr).toBe(
        `corrbus timeline: NOT_FOUND: ${childId} is not a root: it is a step of workflow ${rootId}; ask for root_correlation_id ${rootId}\n`,
      );
    });

    it("should show one correlation's lineage, stages, participants, gaps and deliveries", async () => {
      const text = await cli("workflow", childId);
      expect(text.code).toBe(0);
      expect(field(text.stdout, "correlation")).toBe(childId);
      expect(field(text.stdout, "root")).toBe(rootId);
      expect(field(text.stdout, "parent")).toBe(rootId);
      expect(field(text.stdout, "depth")).toBe("1");
      expect(field(text.stdout, "status")).toBe("open");
      expect(field(text.stdout, "gaps")).toBe("1 (GAP_IN below)");
      expect(text.stdout).toMatch(/^STAGE +EVENTS +FIRST +LAST +DURATION +COMPLETED$/m);
      expect(text.stdout).toMatch(/^integrity +2 +\S+Z +\S+Z +\S+ +-$/m);
      expect(text.stdout).toMatch(/^shell +\d+ +(yes|no) +2 +no +4$/m);
      expect(text.stdout).toMatch(/^shell +2 +3$/m);

      const root = await cli("workflow", rootId, "--json");
      expect(root.code).toBe(0);
      const { workflow } = jsonLines(root.stdout)[0];
      expect(workflow).toMatchObject({ correlation_id: rootId, status: "COMPLETION_STATUS_COMPLETE", depth: 0, child_correlation_ids: [childId] });
      expect(workflow.deliveries).toEqual([expect.objectContaining({ subscriber_name: "tl-process-monitor", state: "DELIVERY_STATE_ANSWERED" })]);
      const orphan = await cli("workflow", orphanId);
      expect(field(orphan.stdout, "parent")).toBe(`${absentId}  ORPHAN: never seen by the broker`);

      const unknown = await cli("workflow", absentId);
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toContain("corrbus workflow: NOT_FOUND:");
    });
  });

  describe("stats", () => {
    it("should print the counters by section, journal and connections included", async () => {
      const result = await cli("stats");
      expect(result.code).toBe(0);
      const sections = result.stdout.split("\n").filter((line) => /^\S/.test(line));
      expect(sections).toEqual(["broker", "events", "history", "subscribers", "workflows", "connections", "indexes", "memory", "journal"]);
      expect(result.stdout).toMatch(/^ {2}published +\d+$/m);
      expect(result.stdout).toMatch(/^ {2}open +\d+$/m);
      expect(result.stdout).toMatch(/^ {2}fsync policy +batch$/m);
      expect(result.stdout).toContain(`${join(broker.directory, "data", "journal")}\n`);
      expect(result.stdout).toMatch(/^ {2}directory +\//m);
      expect(result.stdout).toMatch(/^ {2}bound +\S+ \S+ of \S+ \S+ \(history \S+ \S+, workflows \S+ \S+; estimated\)$/m);
      expect(result.stdout).toMatch(/^ {2}evicted for memory +0$/m);
    });

    it("should print the GetStatsResponse as JSON with every counter, zeros included", async () => {
      const result = await cli("stats", "--json");
      expect(result.code).toBe(0);
      const [stats] = jsonLines(result.stdout);
      expect(Number(stats.events_published)).toBeGreaterThan(10);
      expect(stats.events_evicted).toBe("0");
      expect(stats.connections_open).toBeGreaterThanOrEqual(1);
      expect(stats.journal).toMatchObject({ fsync_policy: "batch", problems: "0" });
      expect(Number(stats.memory_limit_bytes)).toBeGreaterThan(0);
      expect(Number(stats.memory_history_bytes)).toBeGreaterThan(0);
      expect(stats.events_evicted_for_memory).toBe("0");
    });

    it("should show the memory limit --memory-limit sets", async () => {
      const bounded = await startBrokerProcess(["--in-memory", "--memory-limit", "50000000"]);
      try {
        const result = await runCli(["stats", "--json", "--socket", bounded.socketPath]);
        expect(result.code).toBe(0);
        expect(jsonLines(result.stdout)[0].memory_limit_bytes).toBe("50000000");
      } finally {
        await bounded.stop();
      }
    });

    it("should say when the broker keeps no journal", async () => {
      const memory = await startBrokerProcess(["--in-memory"]);
      try {
        const result = await runCli(["stats", "--socket", memory.socketPath]);
        expect(result.code).toBe(0);
        expect(result.stdout).toMatch(/^journal\n {2}state +none \(in memory only/m);
      } finally {
        await memory.stop();
      }
    });
  });

  describe("ping, socket and completion", () => {
    it("should answer ping with exit 0 and the latency, and exit 1 naming the socket when no broker listens", async () => {
      const text = await cli("ping");
      expect(text).toMatchObject({ code: 0, stderr: "" });
      expect(text.stdout.startsWith(`broker on ${broker.socketPath} answered in `)).toBe(true);
      expect(text.stdout).toMatch(/ answered in \d+\.\dms \(newest event_id \d+\)\n$/);
      const json = await cli("ping", "--json");
      expect(json.code).toBe(0);
      const [line] = jsonLines(json.stdout);
      expect(line.socket).toBe(broker.socketPath);
      expect(line.latency_ms).toBeGreaterThan(0);
      const nobody = await runCli(["ping", "--socket", join(scratch, "nobody.sock")], env);
      expect(nobody.code).toBe(1);
      expect(nobody.stdout).toBe("");
      expect(nobody.stderr).toContain(`corrbus ping: UNAVAILABLE: no broker listening on ${join(scratch, "nobody.sock")}`);
    });

    it("should print the socket path, as JSON with --json", async () => {
      expect(await cli("socket")).toMatchObject({ code: 0, stdout: `${broker.socketPath}\n` });
      const json = await cli("socket", "--json");
      expect(jsonLines(json.stdout)).toEqual([{ socket: broker.socketPath }]);
    });

    it("should complete commands, options and journal actions in bash", async () => {
      const script = await cli("completion", "bash");
      expect(script.code).toBe(0);
      const file = join(scratch, "corrbus-completion.bash");
      writeFileSync(file, script.stdout);
      // What bash asks the function for a line typed so far (the words, the index of the one being completed).
      const complete = (...words: string[]) => {
        const line = `source ${file}; COMP_WORDS=(${words.map((word) => `'${word}'`).join(" ")}); COMP_CWORD=${words.length - 1}; _corrbus; echo "\${COMPREPLY[*]}"`;
        const result = spawnSync("bash", ["-c", line], { encoding: "utf8" });
        expect(result.stderr).toBe("");
        return result.stdout.trim().split(" ");
      };
      expect(complete("corrbus", "p")).toEqual(["publish", "ping"]);
      expect(complete("corrbus", "subscribe", "--r")).toEqual(["--raw"]);
      expect(complete("corrbus", "publish", "--no")).toEqual(["--no-inherit"]);
      expect(complete("corrbus", "journal", "")).toEqual(expect.arrayContaining(["verify", "dump", "--data-dir"]));
    });
  });

  describe("journal", () => {
    it("should fail naming the path when --data-dir does not exist or holds no journal", async () => {
      const missing = await cli("journal", "verify", "--data-dir", "/does/not/exist");
      expect(missing.code).toBe(1);
      expect(missing.stdout).toBe("");
      expect(missing.stderr).toBe(
        "corrbus journal: /does/not/exist does not exist or is not a directory; give the broker's --data-dir (or CORRBUS_DATA_DIR)\n",
      );
      const empty = await cli("journal", "dump", "--data-dir", scratch);
      expect(empty.code).toBe(1);
      expect(empty.stderr).toContain(`no journal directory ${join(scratch, "journal")}`);
      const real = await cli("journal", "verify", "--data-dir", join(broker.directory, "data"));
      expect(real.code).toBe(0);
    });
  });

  describe("progress", () => {
    it("should rewrite one status line on a terminal and write nothing elsewhere", () => {
      const written: string[] = [];
      const terminal = createProgress({ isTTY: true, write: (text: string) => written.push(text) });
      terminal.update("1 page");
      terminal.update("2 pages");
      terminal.done();
      expect(written).toEqual(["\r\x1b[K1 page", "\r\x1b[K2 pages", "\r\x1b[K"]);
      const piped: string[] = [];
      const quiet = createProgress({ isTTY: false, write: (text: string) => piped.push(text) });
      quiet.update("1 page");
      quiet.every(10, () => "tick");
      quiet.done();
      expect(piped).toEqual([]);
    });

    const hasScript = spawnSync("script", ["--version"]).status === 0;

    it.skipIf(!hasScript)("should count the seconds of a wait on a real terminal (script(1) as the pty)", async () => {
      const root = agent.newRootCorrelation("progress");
      await agent.publish("events.cli.progress", "one", { correlation: root });
      const command = `${process.execPath} ${cliPath} wait ${root.correlationId} --expected-results 2 --timeout 600ms`;
      const result = await new Promise<CliResult>((resolve) => {
        const child = spawn("script", ["-qec", command, "/dev/null"], { env, stdio: ["ignore", "pipe", "pipe"] });
        let stdout = "";
        child.stdout.on("data", (chunk) => (stdout += chunk));
        child.once("exit", (code) => resolve({ code, stdout, stderr: "" }));
      });
      expect(result.code).toBe(3);
      expect(result.stdout).toContain(`\r\x1b[Kwaiting for ${root.correlationId}… `);
      expect(result.stdout).toContain("of 600ms");
      expect(result.stdout).toContain("incomplete (deadline)");
    });
  });
});
