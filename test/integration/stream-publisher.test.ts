import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { type BrokerProcess, startBrokerProcess } from "../helpers/broker-process.js";
import { eventually } from "../helpers/eventually.js";
import { type FixtureProcess, messagesOf, spawnFixture } from "../helpers/fixture-process.js";

describe("the client's StreamPublisher, against a broker process", () => {
  const cleanup: (() => Promise<unknown> | void)[] = [];

  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  async function broker(args: string[] = [], socket?: string): Promise<BrokerProcess> {
    const started = await startBrokerProcess(args, socket);
    cleanup.push(() => started.stop());
    return started;
  }

  function fixture(name: string, args: string[]): FixtureProcess {
    const started = spawnFixture(name, args);
    cleanup.push(() => {
      started.child.kill("SIGKILL");
    });
    return started;
  }

  /** Every stored event's id and payload, replayed from the first one. */
  async function storedPayloads(socket: string): Promise<{ id: number; payload: string }[]> {
    const stats = fixture("stats", ["--socket", socket]);
    const count = Number((await stats.waitFor("stats")).eventsStored);
    const replay = fixture("subscriber", ["--socket", socket, "--pattern", "events.test.#", "--from", "1", "--max", String(count)]);
    expect(await replay.exited).toBe(0);
    return messagesOf(replay, "event").map((event) => ({ id: Number(event.id), payload: String(event.payload) }));
  }

  const acks = (publisher: FixtureProcess) => messagesOf(publisher, "ack").map((ack) => ({ index: Number(ack.index), id: Number(ack.id) }));

  for (const protocol of ["connect", "grpc"]) {
    it(`should acknowledge every event with its own id, in the order published, over one stream (${protocol})`, async () => {
      const { socketPath, logs } = await broker();
      const subscriber = fixture("subscriber", ["--socket", socketPath, "--pattern", "events.test.#", "--max", "2000"]);
      await subscriber.waitFor("ready");
      const publisher = fixture("stream-publisher", ["--socket", socketPath, "--count", "2000", "--protocol", protocol]);
      expect(await publisher.exited).toBe(0);
      const acked = acks(publisher);
      expect(acked.map((ack) => ack.index).sort((a, b) => a - b)).toEqual(Array.from({ length: 2000 }, (_, index) => index));
      const byIndex = acked.sort((a, b) => a.index - b.index).map((ack) => ack.id);
      for (let index = 1; index < byIndex.length; index++) expect(byIndex[index]).toBeGreaterThan(byIndex[index - 1]);
      expect(messagesOf(publisher, "ack").every((ack) => ack.delivered === 1)).toBe(true);
      expect(await subscriber.exited).toBe(0);
      expect(messagesOf(subscriber, "event").map((event) => Number(event.id))).toEqual(byIndex);
      if (protocol === "connect") expect(logs.filter((line) => line.msg === "PublishStream on the lean path")).toHaveLength(1);
    });
  }

  for (const overStream of [true, false]) {
    it(`should answer each publish() with its id, delivered count and receive time, refusals worded alike (publishOverStream ${overStream})`, async () => {
      const { socketPath, logs } = await broker();
      const subscriber = fixture("subscriber", ["--socket", socketPath, "--pattern", "events.test.#", "--max", "24"]);
      await subscriber.waitFor("ready");
      const started = Date.now();
      const publisher = fixture("stream-publisher", [
        ...["--socket", socketPath, "--count", "30", "--bad-every", "5", "--via", "publish", "--sequential"],
        ...["--publish-over-stream", String(overStream)],
      ]);
      expect(await publisher.exited).toBe(0);
      const acked = messagesOf(publisher, "ack");
      expect(acked.map((ack) => ack.index)).toEqual(Array.from({ length: 30 }, (_, index) => index).filter((index) => (index + 1) % 5 !== 0));
      for (const ack of acked) {
        expect(ack.delivered).toBe(1);
        expect(ack.receivedAt).toBeGreaterThanOrEqual(started - 1000);
        expect(ack.receivedAt).toBeLessThanOrEqual(Date.now());
      }
      const failed = messagesOf(publisher, "failed");
      expect(failed).toHaveLength(6);
      for (const failure of failed) {
        expect(failure.code).toBe(Code.InvalidArgument);
        expect(failure.message).toBe('topic: segment 2 "Not-Valid" of "events.Not-Valid" must match [a-z0-9_-]+');
      }
      expect(await subscriber.exited).toBe(0);
      expect(messagesOf(subscriber, "event").map((event) => Number(event.id))).toEqual(acked.map((ack) => Number(ack.id)));
      const stats = fixture("stats", ["--socket", socketPath]);
      expect(Number((await stats.waitFor("stats")).publishesRejected)).toBe(6);
      // Over the stream: one PublishStream for the first events and one after each refusal followed by more events (a refusal ends the stream).
      expect(logs.filter((line) => line.msg === "PublishStream on the lean path")).toHaveLength(overStream ? 6 : 0);
    });
  }

  // connect: the publisher's lean channel on the HTTP/2 stream; grpc: the generated client's async iterables.
  for (const protocol of ["connect", "grpc"]) {
    it(`should answer a refused event on its own, with the broker's error, and store the rest of its batch in order (${protocol})`, async () => {
      const { socketPath } = await broker();
      const publisher = fixture("stream-publisher", [
        "--socket",
        socketPath,
        "--count",
        "300",
        "--bad-every",
        "50",
        "--max-batch",
        "40",
        "--protocol",
        protocol,
      ]);
      expect(await publisher.exited).toBe(0);
      const failed = messagesOf(publisher, "failed");
      expect(failed.map((failure) => failure.index)).toEqual([49, 99, 149, 199, 249, 299]);
      for (const failure of failed) {
        expect(failure.code).toBe(Code.InvalidArgument);
        expect(failure.message).toMatch(/topic/);
      }
      expect(acks(publisher)).toHaveLength(294);
      const stored = await storedPayloads(socketPath);
      const expected = Array.from({ length: 300 }, (_, index) => index)
        .filter((index) => (index + 1) % 50 !== 0)
        .map((index) => `s${index}`);
      expect(stored.map((event) => event.payload)).toEqual(expected);
    });
  }

  it("should send what waits in its queue as acks make room: 20 000 events in one tick with the default bounds all acknowledged (they stalled at 13 200)", async () => {
    const { socketPath } = await broker();
    const publisher = fixture("stream-publisher", ["--socket", socketPath, "--count", "20000"]);
    expect(await publisher.exited).toBe(0);
    expect(acks(publisher)).toHaveLength(20_000);
    expect(messagesOf(publisher, "done")[0]).toMatchObject({ count: 20_000, maxPending: 10_000 });
  });

  it("should hold at most maxPendingEvents, publishing every event in the end", async () => {
    const { socketPath } = await broker();
    const publisher = fixture("stream-publisher", ["--socket", socketPath, "--count", "5000", "--max-pending", "300", "--max-batch", "50"]);
    expect(await publisher.exited).toBe(0);
    const done = await publisher.waitFor("done");
    expect(done.maxPending).toBeLessThanOrEqual(300);
    expect(acks(publisher)).toHaveLength(5000);
  });

  it("should refuse an option that is not a positive integer, naming it", async () => {
    const { socketPath } = await broker();
    const publisher = fixture("stream-publisher", ["--socket", socketPath, "--count", "1", "--max-batch", "0"]);
    expect(await publisher.exited).toBe(1);
    expect((await publisher.waitFor("error")).message).toMatch(/maxBatchEnvelopes: 0 is not a positive integer/);
  });

  it("should fail the events in flight when the broker dies, store none twice, and carry on after the restart", async () => {
    const directory = mkdtempSync(join(tmpdir(), "corrbus-stream-publisher-"));
    cleanup.push(() => rmSync(directory, { recursive: true, force: true }));
    const socket = join(directory, "run", "corrbus.sock");
    const dataDir = join(directory, "data");
    const first = await startBrokerProcess(["--data-dir", dataDir], socket);
    // Killed by the test; stopped here too if the test fails before that (stop() on a dead broker only cleans up).
    cleanup.push(() => first.stop());
    const publisher = fixture("stream-publisher", [
      "--socket",
      socket,
      "--count",
      "200000",
      "--per-tick",
      "20",
      "--tick-ms",
      "4",
      "--stop-after-recovered",
      "100",
    ]);
    await eventually("events acknowledged before the crash", () => messagesOf(publisher, "ack").length >= 300, 30_000);
    await first.kill();
    await eventually("events failing while the broker is away", () => messagesOf(publisher, "failed").length >= 20, 30_000);
    await broker(["--data-dir", dataDir], socket);
    expect(await publisher.exited).toBe(0);

    const failed = messagesOf(publisher, "failed");
    for (const failure of failed) expect([Code.Unavailable, Code.Canceled, Code.Aborted, Code.Unknown]).toContain(failure.code);
    const acked = acks(publisher);
    const { count } = await publisher.waitFor("done");
    expect(acked.length + failed.length).toBe(count);
    expect(acked.length).toBeGreaterThan(300);
    // Publishing goes on after the restart: events after the first failure were acknowledged.
    const firstFailure = Math.min(...failed.map((failure) => Number(failure.index)));
    expect(acked.some((ack) => ack.index > firstFailure)).toBe(true);
    const stored = await storedPayloads(socket);
    // Nothing stored twice: an event whose answer was lost is not sent again.
    const payloads = stored.map((event) => event.payload);
    expect(new Set(payloads).size).toBe(payloads.length);
    // Every acknowledged event is stored under its id.
    const storedIds = new Map(stored.map((event) => [event.payload, event.id]));
    for (const ack of acked) expect(storedIds.get(`s${ack.index}`)).toBe(ack.id);
  });
});
