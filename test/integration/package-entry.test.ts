import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "../helpers/broker-process.js";

describe("the package as another project loads it", () => {
  let project: string;

  beforeAll(() => {
    // A project with corrbus in its node_modules, as npm would link or install it.
    project = mkdtempSync(join(tmpdir(), "corrbus-consumer-"));
    mkdirSync(join(project, "node_modules"));
    symlinkSync(repoRoot, join(project, "node_modules", "corrbus"));
  });

  afterAll(() => rmSync(project, { recursive: true, force: true }));

  const node = (args: string[]) => spawnSync(process.execPath, args, { cwd: project, encoding: "utf8" });

  it("should load with import, and with require() where Node can require ES modules", () => {
    const imported = node(["--input-type=module", "-e", 'import { createCorrelationClient } from "corrbus"; console.log(typeof createCorrelationClient)']);
    expect(imported).toMatchObject({ status: 0, stdout: "function\n" });
    const required = node(["-e", 'const c = require("corrbus"); const s = require("corrbus/server"); console.log(typeof c.createCorrelationClient, typeof s)']);
    expect(required).toMatchObject({ status: 0, stdout: "function object\n" });
  });

  it("should say what to do when require() of ES modules is off, not only ERR_REQUIRE_ESM", () => {
    const refused = node(["--no-experimental-require-module", "-e", 'require("corrbus")']);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('require("corrbus"): corrbus is ES modules only');
    expect(refused.stderr).toContain('Use import { createCorrelationClient } from "corrbus", or await import("corrbus") from CommonJS.');
    const server = node(["--no-experimental-require-module", "-e", 'require("corrbus/server")']);
    expect(server.stderr).toContain('require("corrbus/server"): corrbus is ES modules only');
  });
});
