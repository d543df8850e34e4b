import { spawn } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
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
    const second = await runCli(["serve", "--socket", first.socketPath]);
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
    const result = await runCli(["serve", "--socket", join(directory, "corrbus.sock")]);
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
});
