import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type BrokerProcess, startBrokerProcess } from "../helpers/broker-process.js";
import { eventually } from "../helpers/eventually.js";
import { type FixtureProcess, messagesOf, spawnFixture } from "../helpers/fixture-process.js";

describe("a broker restart", () => {
  const cleanup: (() => Promise<unknown> | void)[] = [];

  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  function workspace(): { socket: string; dataDir: string } {
    const directory = mkdtempSync(join(tmpdir(), "corrbus-restart-"));
    cleanup.push(() => rmSync(directory, { recursive: true, force: true }));
    return { socket: join(directory, "run", "corrbus.sock"), dataDir: join(directory, "data") };
  }

  async function broker(socket: string, dataDir: string): Promise<BrokerProcess> {
    const started = await startBrokerProcess(["--data-dir", dataDir], socket);
    cleanup.push(() => started.stop());
    return started;
  }

  function publish(socket: string, prefix: string, count: number): FixtureProcess {
    return spawnFixture("publisher", ["--socket", socket, "--topic", "events.restart.tick", "--count", String(count), "--prefix", prefix]);
  }

  it("should let a reconnecting TS subscriber see every event from before and after, none twice", async () => {
    const { socket, dataDir } = workspace();
    const first = await broker(socket, dataDir);
    const subscriber = spawnFixture("subscriber", ["--socket", socket, "--pattern", "events.restart.#", "--reconnect", "--max", "60"]);
    cleanup.push(() => void subscriber.child.kill("SIGKILL"));
    await subscriber.waitFor("ready");

    const before = publish(socket, "before", 30);
    expect(await before.exited).toBe(0);
    await eventually("30 events before the restart", () => messagesOf(subscriber, "event").length >= 30);
    await first.stop();
    // While the broker is down the subscriber retries.
    await subscriber.waitFor("reconnect");

    const second = await broker(socket, dataDir);
    // Published before the subscriber is back: it must catch up by replay.
    const after = publish(socket, "after", 30);
    expect(await after.exited).toBe(0);
    expect(await subscriber.exited).toBe(0);

    const events = messagesOf(subscriber, "event");
    const payloads = events.map((event) => event.payload);
    expect(payloads).toEqual([...Array.from({ length: 30 }, (_, i) => `before${i}`), ...Array.from({ length: 30 }, (_, i) => `after${i}`)]);
    const ids = events.map((event) => Number(event.id));
    expect(new Set(ids).size).toBe(60);
    for (let i = 1; i < ids.length; i++) expect(ids[i]).toBeGreaterThan(ids[i - 1]);
    // Event ids continue across the restart: the journal was replayed.
    const acked = [...messagesOf(before, "ack"), ...messagesOf(after, "ack")].map((ack) => Number(ack.id));
    expect(ids).toEqual(acked);
    expect(second.logs.find((line) => line.msg === "journal replayed")).toMatchObject({ records: 30, lastId: acked[29] });
  });

  it("should let a subscriber that is busy with an event when the broker dies start reconnecting at once, and miss nothing", async () => {
    const { socket, dataDir } = workspace();
    const first = await broker(socket, dataDir);
    const subscriber = spawnFixture("subscriber", ["--socket", socket, "--pattern", "events.restart.#", "--reconnect", "--pause-after", "1", "--max", "6"]);
    cleanup.push(() => void subscriber.child.kill("SIGKILL"));
    await subscriber.waitFor("ready");
    const before = publish(socket, "before", 3);
    expect(await before.exited).toBe(0);
    await subscriber.waitFor("paused");

    await first.kill();
    // Still busy with its first event, the subscriber already knows the broker is gone.
    await subscriber.waitFor("reconnect");
    await broker(socket, dataDir);
    const after = publish(socket, "after", 3);
    expect(await after.exited).toBe(0);
    subscriber.child.kill("SIGUSR2");
    expect(await subscriber.exited).toBe(0);
    expect(messagesOf(subscriber, "event").map((event) => event.payload)).toEqual(["before0", "before1", "before2", "after0", "after1", "after2"]);
  });
});
