import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DataDirectoryLockedError, lockDataDirectory } from "../../src/storage/index.js";
import { repoRoot } from "../helpers/broker-process.js";

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

function workspace(): string {
  const directory = mkdtempSync(join(tmpdir(), "corrbus-lock-"));
  directories.push(directory);
  return directory;
}

/** A process that takes the lock (or is refused) and holds it until its stdin ends. */
function holder(directory: string): { answer: Promise<string>; release: () => Promise<void> } {
  const child = spawn(process.execPath, [join(repoRoot, "dist", "test", "fixtures", "lock-holder.js"), directory], { stdio: ["pipe", "pipe", "inherit"] });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const answer = new Promise<string>((resolve, reject) => {
    child.stdout.on("data", () => output.includes("\n") && resolve(output.trim()));
    child.once("exit", (code) => (output.includes("\n") ? resolve(output.trim()) : reject(new Error(`lock holder exited ${code} without an answer`))));
  });
  return { answer, release: () => (child.stdin.end(), exited) };
}

describe("the data directory's lock", () => {
  it("should refuse a second taker while the first holds it, naming the holder, and let it go on release", () => {
    const directory = workspace();
    const release = lockDataDirectory(directory);
    expect(() => lockDataDirectory(directory)).toThrow(DataDirectoryLockedError);
    expect(() => lockDataDirectory(directory)).toThrow(`data directory ${directory} is in use by process ${process.pid}`);
    release();
    lockDataDirectory(directory)();
  });

  it("should not be kept by a LOCK file naming a live process that holds no lock (a reused pid)", () => {
    const directory = workspace();
    lockDataDirectory(directory)();
    writeFileSync(join(directory, "LOCK"), "1\n");
    const release = lockDataDirectory(directory);
    expect(readFileSync(join(directory, "LOCK"), "utf8")).toBe(`${process.pid}\n`);
    release();
  });

  it("should give it to exactly one of two processes starting at the same instant, 50 times over", async () => {
    for (let round = 0; round < 50; round++) {
      const directory = workspace();
      const pair = [holder(directory), holder(directory)];
      const answers = await Promise.all(pair.map((process) => process.answer));
      await Promise.all(pair.map((process) => process.release()));
      expect(
        answers.filter((answer) => answer === "taken"),
        `round ${round}: ${answers.join(" | ")}`,
      ).toHaveLength(1);
      expect(answers.find((answer) => answer !== "taken")).toMatch(/^refused: data directory .* is in use by /);
    }
  });
});
