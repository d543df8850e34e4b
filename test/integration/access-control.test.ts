import { execFileSync, spawn } from "node:child_process";
import { chmodSync, lstatSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BrokerProcess, cliPath, startBrokerProcess } from "../helpers/broker-process.js";
import { messagesOf, spawnFixture } from "../helpers/fixture-process.js";

// Another uid is needed: the test makes a throwaway user and group, which takes root.
// CI runs as root; elsewhere the test is skipped with a warning, never in CI.
const isRoot = process.getuid?.() === 0;
const skip = !isRoot && process.env.CI !== "true";
if (skip) console.warn("access-control.test.ts: skipped: needs root to create a throwaway user");

describe("who may use the socket and publish to control.#", () => {
  const suffix = `${process.pid}`.slice(-6);
  const user = `cbt-u${suffix}`;
  const group = `cbt-g${suffix}`;
  let uid: number;
  let gid: number;
  let outsider: { uid: number; gid: number };
  let directory: string;
  let broker: BrokerProcess;

  beforeAll(async () => {
    if (skip) return;
    execFileSync("groupadd", [group]);
    execFileSync("useradd", ["--no-create-home", "--shell", "/usr/sbin/nologin", "--gid", group, user]);
    uid = Number(execFileSync("id", ["-u", user]).toString());
    gid = Number(execFileSync("id", ["-g", user]).toString());
    // The same user, but not in the socket's group.
    outsider = { uid, gid: 65534 };
    directory = mkdtempSync(join(tmpdir(), "corrbus-access-"));
    chmodSync(directory, 0o711);
    broker = await startBrokerProcess(["--in-memory", "--socket-group", group], join(directory, "run", "corrbus.sock"));
  });

  afterAll(async () => {
    if (skip) return;
    await broker?.stop();
    rmSync(directory, { recursive: true, force: true });
    execFileSync("userdel", [user]);
    execFileSync("groupdel", [group]);
  });

  const runCliAs = (as: { uid: number; gid: number }, args: string[]) =>
    new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [cliPath, ...args], { stdio: ["ignore", "ignore", "pipe"], ...as });
      let stderr = "";
      child.stderr.on("data", (chunk) => (stderr += chunk));
      child.once("exit", (code) => resolve({ code, stderr }));
    });

  const publishAs = (as: { uid: number; gid: number }, topic: string) =>
    spawnFixture("publisher", ["--socket", broker.socketPath, "--topic", topic, "--name", "other-user"], as);

  it.skipIf(skip)("should open the socket to the group only: socket 0660, directory 0710, both of that group", () => {
    const socket = lstatSync(broker.socketPath);
    expect([socket.mode & 0o777, socket.gid]).toEqual([0o660, gid]);
    const run = lstatSync(join(directory, "run"));
    expect([run.mode & 0o777, run.gid]).toEqual([0o710, gid]);
  });

  it.skipIf(skip)("should refuse control.# to another uid with PERMISSION_DENIED and count it, and stamp its events with its kernel uid", async () => {
    const denied = publishAs({ uid, gid }, "control.collector.task.process");
    expect(await denied.exited).toBe(1);
    const [error] = messagesOf(denied, "error");
    expect(error.code).toBe(7); // Code.PermissionDenied
    expect(error.message).toContain(`uid ${uid} may not publish to control.# ("control.collector.task.process")`);

    const allowed = publishAs({ uid, gid }, "events.process.started");
    expect(await allowed.exited).toBe(0);
    const [ack] = messagesOf(allowed, "ack");

    const reader = spawnFixture("subscriber", ["--socket", broker.socketPath, "--pattern", "#", "--from", String(ack.id), "--max", "1"]);
    expect(await reader.exited).toBe(0);
    const [event] = messagesOf(reader, "event");
    expect(event.id).toBe(ack.id);
    expect(event.publisher).toEqual({ pid: allowed.child.pid, uid, verified: true });
    const stats = spawnFixture("stats", ["--socket", broker.socketPath]);
    expect(await stats.exited).toBe(0);
    expect(messagesOf(stats, "stats")[0]).toMatchObject({ permissionDenied: "1" });
  });

  it.skipIf(skip)("should refuse the bare topic control too (control.# matches it), deliver it to nobody, and log the refusal", async () => {
    // A root subscriber on control.# (what the attack run used) would have received it.
    const watcher = spawnFixture("subscriber", ["--socket", broker.socketPath, "--pattern", "control.#", "--max", "1"]);
    await watcher.waitFor("ready");
    // Refusals are logged at most once a second: let the previous test's refusal line pass.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    for (const topic of ["control", "control.collector.task.scan"]) {
      const denied = publishAs({ uid, gid }, topic);
      expect(await denied.exited).toBe(1);
      const [error] = messagesOf(denied, "error");
      expect([topic, error.code]).toEqual([topic, 7]); // Code.PermissionDenied
      expect(error.message).toContain(`uid ${uid} may not publish to control.# ("${topic}")`);
    }
    // The broker's own uid may: the one event the watcher gets is that one.
    const allowed = spawnFixture("publisher", ["--socket", broker.socketPath, "--topic", "control"]);
    expect(await allowed.exited).toBe(0);
    expect(await watcher.exited).toBe(0);
    expect(messagesOf(watcher, "event").map((event) => [event.topic, event.id])).toEqual([["control", messagesOf(allowed, "ack")[0].id]]);
    // Logged (at most one line a second: the second refusal may be folded into the next line's "suppressed").
    const refusals = broker.logs.filter((line) => line.msg === "publish to control.# refused");
    expect(refusals.find((line) => line.topic === "control")).toMatchObject({ level: "warn", uid, pid: expect.any(Number) });
  });

  it.skipIf(skip)("should keep a uid outside the group off the socket entirely, with PERMISSION_DENIED naming the socket and the remedy", async () => {
    const shutOut = publishAs(outsider, "events.process.started");
    expect(await shutOut.exited).toBe(1);
    // The kernel refuses the connect (EACCES): it used to surface as INTERNAL.
    expect(messagesOf(shutOut, "error")).toEqual([
      {
        type: "error",
        code: 7, // Code.PermissionDenied
        message: `no permission to connect to ${broker.socketPath} (EACCES): the socket is the broker's user's only, unless it runs with \`corrbus serve --socket-group GROUP\` and this user is in GROUP`,
      },
    ]);
  });

  it.skipIf(skip)("should tell a CLI user outside the group the same, and a subscriber gives up at once (not retrying forever)", async () => {
    const stats = await runCliAs(outsider, ["stats", "--socket", broker.socketPath]);
    expect(stats.code).toBe(1);
    expect(stats.stderr).toBe(
      `corrbus stats: PERMISSION_DENIED: no permission to connect to ${broker.socketPath} (EACCES): the socket is the broker's user's only, unless it runs with \`corrbus serve --socket-group GROUP\` and this user is in GROUP\n`,
    );
    const subscribe = await runCliAs(outsider, ["subscribe", "events.#", "--socket", broker.socketPath]);
    expect(subscribe.code).toBe(1);
    expect(subscribe.stderr).toContain("corrbus subscribe: PERMISSION_DENIED: no permission to connect to");
  });
});
