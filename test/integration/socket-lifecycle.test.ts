import { spawn } from "node:child_process";
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type BrokerProcess, runCli, startBrokerProcess } from "../helpers/broker-process.js";
import { spawnFixture } from "../helpers/fixture-process.js";

describe("the broker's socket", () => {
  const brokers: BrokerProcess[] = [];
  const directories: string[] = [];

  afterEach(async () => {
    for (const broker of brokers.splice(0)) await broker.stop();
    for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
  });

  function scratch(): string {
    const directory = mkdtempSync(join(tmpdir(), "corrbus-socket-"));
    directories.push(directory);
    return directory;
  }

  it("should create the socket 0600 inside a new 0700 directory", async () => {
    const broker = await startBrokerProcess();
    brokers.push(broker);
    expect(lstatSync(broker.socketPath).isSocket()).toBe(true);
    expect(lstatSync(broker.socketPath).mode & 0o777).toBe(0o600);
    expect(lstatSync(join(broker.socketPath, "..")).mode & 0o777).toBe(0o700);
  });

  it("should refuse to start a second broker on a live socket, and the first keeps serving", async () => {
    const first = await startBrokerProcess();
    brokers.push(first);
    // In memory: a journal in the default data directory would meet the user's own broker there first.
    const second = await runCli(["serve", "--socket", first.socketPath, "--in-memory"]);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`another broker is already listening on ${first.socketPath}`);

    const publisher = spawnFixture("publisher", ["--socket", first.socketPath, "--topic", "events.test.alive"]);
    expect(await publisher.exited).toBe(0);
    expect(publisher.messages.at(-1)).toEqual({ type: "done", count: 1 });
  });

  it("should replace a stale socket file left by a dead process", async () => {
    const directory = join(scratch(), "run");
    mkdirSync(directory, { mode: 0o700 });
    const socketPath = join(directory, "corrbus.sock");
    // A socket file with nobody listening: what a SIGKILLed broker leaves behind.
    const holder = spawn(process.execPath, ["-e", `require("net").createServer().listen(${JSON.stringify(socketPath)}, () => console.log("up"))`]);
    await new Promise((resolve) => holder.stdout.once("data", resolve));
    holder.kill("SIGKILL");
    await new Promise((resolve) => holder.once("exit", resolve));
    expect(lstatSync(socketPath).isSocket()).toBe(true);

    const broker = await startBrokerProcess([], socketPath);
    brokers.push(broker);
    expect(broker.logs.map((line) => line.msg)).toContain("replaced a stale socket (no process was listening on it)");
    const publisher = spawnFixture("publisher", ["--socket", socketPath]);
    expect(await publisher.exited).toBe(0);
  });

  it("should refuse a symlinked socket path", async () => {
    const directory = join(scratch(), "run");
    mkdirSync(directory, { mode: 0o700 });
    symlinkSync(join(directory, "elsewhere.sock"), join(directory, "corrbus.sock"));
    const result = await runCli(["serve", "--socket", join(directory, "corrbus.sock"), "--in-memory"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("is a symbolic link; refusing to use it");
  });

  it("should drain on SIGTERM: subscribers end with UNAVAILABLE and the socket is removed", async () => {
    const broker = await startBrokerProcess();
    const subscriber = spawnFixture("subscriber", ["--socket", broker.socketPath, "--pattern", "#"]);
    await subscriber.waitFor("ready");
    expect(await broker.stop()).toBe(0);
    const ended = await subscriber.waitFor("error");
    expect(ended.code).toBe(14); // Code.Unavailable
    expect(ended.message).toBe("broker shutting down");
    expect(existsSync(broker.socketPath)).toBe(false);
  });

  it("should answer usage errors with exit code 2 and a precise message", async () => {
    const result = await runCli(["serve", "--history-size", "lots"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--history-size: "lots" is not a positive integer');
  });

  describe("a start-up that fails", () => {
    /** stderr without the info lines a start-up logs before it fails. */
    const errorLines = (stderr: string) => stderr.split("\n").filter((line) => line !== "" && !line.startsWith("{"));

    it("should refuse an unknown --socket-group before anything is created: exit 1, one line, no socket", async () => {
      const directory = scratch();
      const socket = join(directory, "run", "corrbus.sock");
      const result = await runCli(["serve", "--socket", socket, "--data-dir", join(directory, "data"), "--socket-group", "nosuchgroup"]);
      expect(result.code).toBe(1);
      expect(errorLines(result.stderr)).toEqual(['corrbus serve: --socket-group: no group named "nosuchgroup" in /etc/group']);
      expect(existsSync(join(directory, "run"))).toBe(false);
      expect(existsSync(join(directory, "data"))).toBe(false);
    });

    it("should refuse a --data-dir under /proc: exit 1, one line, no socket", async () => {
      const directory = scratch();
      const socket = join(directory, "run", "corrbus.sock");
      const result = await runCli(["serve", "--socket", socket, "--data-dir", "/proc/corrbus-nope"]);
      expect(result.code).toBe(1);
      expect(errorLines(result.stderr)).toEqual([
        "corrbus serve: --data-dir /proc/corrbus-nope is under /proc, a kernel pseudo-filesystem; choose a directory on a real disk",
      ]);
      expect(existsSync(join(directory, "run"))).toBe(false);
    });

    it("should close what it opened when it fails after listening: socket removed, lock released, directory unchanged", async () => {
      const directory = scratch();
      const socketDirectory = join(directory, "private");
      mkdirSync(socketDirectory, { mode: 0o700 });
      const socket = join(socketDirectory, "corrbus.sock");
      const dataDir = join(directory, "data");
      const gid = process.getgid?.() ?? 0;
      const result = await runCli(["serve", "--socket", socket, "--data-dir", dataDir, "--socket-group", String(gid)]);
      expect(result.code).toBe(1);
      expect(errorLines(result.stderr)).toEqual([
        expect.stringContaining(`--socket-group: socket directory ${socketDirectory} (mode 700) does not let group ${gid} through`),
      ]);
      expect(existsSync(socket)).toBe(false);
      expect(lstatSync(socketDirectory).mode & 0o7777).toBe(0o700);
      // The lock went with it: a broker starts on the same data directory.
      const next = await startBrokerProcess(["--data-dir", dataDir], join(directory, "next", "corrbus.sock"));
      brokers.push(next);
    });

    it("should leave a shared socket directory it did not create as it was (a sticky 1777 one, as /tmp)", async () => {
      const directory = scratch();
      const shared = join(directory, "shared");
      mkdirSync(shared);
      chmodSync(shared, 0o1777);
      const gid = process.getgid?.() ?? 0;
      const broker = await startBrokerProcess(["--data-dir", join(directory, "data"), "--socket-group", String(gid)], join(shared, "corrbus.sock"));
      expect(lstatSync(broker.socketPath).mode & 0o777).toBe(0o660);
      expect(await broker.stop()).toBe(0);
      expect(lstatSync(shared).mode & 0o7777).toBe(0o1777);
    });
  });
});
