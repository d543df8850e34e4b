import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../helpers/broker-process.js";
import { LineReader } from "../helpers/line-reader.js";

describe("npm start", () => {
  it("should start an already built broker without building again", async () => {
    // The suite runs after `npm run build`, so dist/ is newer than every source: nothing to build.
    const directory = mkdtempSync(join(tmpdir(), "corrbus-npm-start-"));
    const socket = join(directory, "corrbus.sock");
    const started = Date.now();
    const child = spawn("npm", ["start", "--silent", "--", "--socket", socket, "--in-memory"], {
      cwd: repoRoot,
      detached: true,
      stdio: ["ignore", "ignore", "pipe"],
    });
    const stderr = new LineReader(child.stderr);
    const exited = new Promise((resolve) => child.once("exit", resolve));
    try {
      await stderr.waitFor((line) => line.includes('"msg":"listening"'), 30_000);
      const elapsedMs = Date.now() - started;
      expect(stderr.lines.filter((line) => line.startsWith("corrbus: build"))).toEqual([]);
      // A build takes a minute or more here; npm, node and the broker's start-up take a second or two.
      expect(elapsedMs).toBeLessThan(15_000);
    } finally {
      // npm and the broker it started are one process group.
      if (child.pid !== undefined) process.kill(-child.pid, "SIGTERM");
      await exited;
      rmSync(directory, { recursive: true, force: true });
    }
  });
});
