import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BrokerProcess, repoRoot, startBrokerProcess } from "../helpers/broker-process.js";
import { LineReader } from "../helpers/line-reader.js";

const readme = readFileSync(join(repoRoot, "README.md"), "utf8");

/** The fenced block the README marks with `<!-- example: PATH -->`. */
function readmeBlock(path: string): string | undefined {
  const marker = `<!-- example: ${path} -->\n`;
  const start = readme.indexOf(marker);
  if (start < 0) return undefined;
  const body = readme.slice(readme.indexOf("\n", start + marker.length) + 1);
  return body.slice(0, body.indexOf("\n```\n") + 1);
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: repoRoot, env: { ...process.env, ...env } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("the README's examples", () => {
  let broker: BrokerProcess;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    broker = await startBrokerProcess();
    env = { CORRBUS_SOCKET: broker.socketPath };
  });

  afterAll(async () => {
    await broker.stop();
  });

  const examples = [
    "examples/typescript/collector.ts",
    "examples/typescript/single-stage-agent.ts",
    "examples/typescript/multi-stage-agent.ts",
    "examples/typescript/forensic-search.ts",
    "examples/curl/publish-and-query.sh",
    "examples/curl/subscribe.sh",
  ];
  for (const path of examples) {
    it(`should print ${path} exactly as the file the tests run`, () => {
      expect(readmeBlock(path)).toBe(readFileSync(join(repoRoot, path), "utf8"));
    });
  }

  for (const [transport, curlFlags] of [
    ["HTTP/1.1", ""],
    ["HTTP/2", "--http2-prior-knowledge"],
  ]) {
    it(`should run the curl examples over ${transport}: a Subscribe stream sees what publish-and-query publishes`, async () => {
      const subscriber = spawn("bash", ["examples/curl/subscribe.sh", "2"], { cwd: repoRoot, env: { ...process.env, ...env, CURL_FLAGS: curlFlags } });
      const lines = new LineReader(subscriber.stdout);
      let subscriberErrors = "";
      subscriber.stderr.on("data", (chunk) => (subscriberErrors += chunk));
      await lines.waitFor((line) => line.startsWith('{"subscribed":true'), 10_000);

      const result = await run("bash", ["examples/curl/publish-and-query.sh"], { ...env, CURL_FLAGS: curlFlags });
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
      const [published, found, timeline, stats] = result.stdout
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line));
      expect(Number(published.eventId)).toBeGreaterThan(0);
      expect(found.events.map((event: { eventId: string }) => event.eventId)).toContain(published.eventId);
      expect(timeline.events).toHaveLength(1);
      expect(timeline.correlations[0].stages[0].name).toBe("enumeration");
      expect(Number(stats.eventsPublished)).toBeGreaterThanOrEqual(1);

      await lines.end();
      expect(subscriberErrors).toBe("");
      const streamed = JSON.parse(lines.lines[1]);
      expect(streamed.events[0].eventId).toBe(published.eventId);
      expect(Buffer.from(streamed.events[0].payload, "base64").toString()).toBe('{"pid":4892,"exe":"/tmp/.x"}');
      // The kernel's pid only: no false stated_pid_mismatch alarm from a shell's $$.
      expect(streamed.events[0].publisher).toMatchObject({ verified: true });
      expect(streamed.events[0].publisher.statedPidMismatch ?? false).toBe(false);
    });
  }

  it("should run the TypeScript collectors and the three scenario agents", async () => {
    const collectors = ["process-monitor", "network-monitor"].map((name) => {
      const child = spawn(process.execPath, ["dist/examples/typescript/collector.js", name], { cwd: repoRoot, env: { ...process.env, ...env } });
      return { child, out: new LineReader(child.stdout) };
    });
    try {
      await Promise.all(collectors.map(({ out }) => out.waitFor((line) => line.endsWith("waiting for tasks"), 15_000)));

      const single = await run(process.execPath, ["dist/examples/typescript/single-stage-agent.js"], env);
      expect(single.code).toBe(0);
      expect(single.stdout).toContain("delivered to 2 collectors");
      expect(single.stdout).toContain("complete=true reason=ALL_RECIPIENTS_ANSWERED");
      expect(single.stdout).toMatch(/process-monitor: \{.*"findings"/);
      expect(single.stdout).toMatch(/network-monitor: \{.*"findings"/);

      const multi = await run(process.execPath, ["dist/examples/typescript/multi-stage-agent.js"], env);
      expect(multi.code).toBe(0);
      expect(multi.stdout).toContain("enumeration: complete=true results=2");
      expect(multi.stdout).toContain("integrity: complete=true results=2");
      expect(multi.stdout).toContain("network_analysis: complete=true results=2");
      expect(multi.stdout.match(/^ {0,4}[0-9a-f-]{36} \[/gm)).toHaveLength(3);

      const search = await run(process.execPath, ["dist/examples/typescript/forensic-search.js"], env);
      expect(search.code).toBe(0);
      // integrity (3) and network_analysis (3) steps carry both tags; so do the two curl runs' events.
      expect(search.stdout).toMatch(/^8 events$/m);

      for (const { child } of collectors) child.kill("SIGTERM");
      const outputs = await Promise.all(collectors.map(({ out }) => out.end().then(() => out.lines)));
      expect(outputs[0].filter((line) => line.includes("answered"))).toHaveLength(4);
    } finally {
      for (const { child } of collectors) child.kill("SIGKILL");
    }
  });
});
