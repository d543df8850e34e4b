import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type BrokerProcess, startBrokerProcess } from "../helpers/broker-process.js";
import { eventually } from "../helpers/eventually.js";
import { type FixtureProcess, messagesOf, spawnFixture } from "../helpers/fixture-process.js";

describe("publish and subscribe across processes", () => {
  let broker: BrokerProcess;
  const started: FixtureProcess[] = [];

  beforeEach(async (context) => {
    // The slow-subscriber test runs with a small queue so that overflow comes quickly.
    const slowTest = context.task.name.includes("slow subscriber");
    broker = await startBrokerProcess(slowTest ? ["--subscriber-queue", "100"] : []);
  });

  afterEach(async () => {
    for (const fixture of started.splice(0)) fixture.child.kill("SIGKILL");
    await broker.stop();
  });

  function subscriber(...args: string[]): FixtureProcess {
    const fixture = spawnFixture("subscriber", ["--socket", broker.socketPath, ...args]);
    started.push(fixture);
    return fixture;
  }

  function publisher(...args: string[]): FixtureProcess {
    const fixture = spawnFixture("publisher", ["--socket", broker.socketPath, ...args]);
    started.push(fixture);
    return fixture;
  }

  const ids = (fixture: FixtureProcess) => messagesOf(fixture, "event").map((message) => Number(message.id));
  const payloads = (fixture: FixtureProcess) => messagesOf(fixture, "event").map((message) => message.payload);

  it("should fan out every event to every matching subscriber, in event_id order", async () => {
    const exact = subscriber("--pattern", "events.process.started", "--max", "40");
    const wildcard = subscriber("--pattern", "events.+.started", "--max", "40");
    const everything = subscriber("--pattern", "#", "--max", "40", "--protocol", "grpc");
    const unrelated = subscriber("--pattern", "events.network.#");
    await Promise.all([exact, wildcard, everything, unrelated].map((s) => s.waitFor("ready")));

    const pub = publisher("--topic", "events.process.started", "--count", "40");
    expect(await pub.exited).toBe(0);
    const acks = messagesOf(pub, "ack");
    expect(acks.map((ack) => ack.delivered)).toEqual(Array(40).fill(3));
    const ackIds = acks.map((ack) => Number(ack.id));
    for (let i = 1; i < ackIds.length; i++) expect(ackIds[i]).toBeGreaterThan(ackIds[i - 1]);

    for (const sub of [exact, wildcard, everything]) {
      await sub.exited;
      expect(ids(sub)).toEqual(ackIds);
      expect(payloads(sub)).toEqual(Array.from({ length: 40 }, (_, i) => `e${i}`));
    }
    expect(messagesOf(unrelated, "event")).toEqual([]);
  });

  it("should give each event to exactly one member of a queue group, round-robin", async () => {
    const workers = [1, 2, 3].map((n) => subscriber("--pattern", "control.collector.task.#", "--group", "workers", "--name", `worker-${n}`));
    const observer = subscriber("--pattern", "control.#", "--max", "90");
    await Promise.all([...workers, observer].map((s) => s.waitFor("ready")));

    const pub = publisher("--topic", "control.collector.task.process", "--count", "90");
    expect(await pub.exited).toBe(0);
    // Each event reaches one worker plus the observer.
    expect(messagesOf(pub, "ack").map((ack) => ack.delivered)).toEqual(Array(90).fill(2));
    await observer.exited;
    await eventually("90 events across the workers", () => workers.flatMap(payloads).length >= 90);

    const perWorker = workers.map(payloads);
    const all = perWorker.flat().sort();
    expect(all).toEqual(Array.from({ length: 90 }, (_, i) => `e${i}`).sort());
    // Round-robin: three workers share 90 events evenly.
    expect(perWorker.map((p) => p.length)).toEqual([30, 30, 30]);
    for (const worker of workers) {
      const workerIds = ids(worker);
      expect([...workerIds].sort((a, b) => a - b)).toEqual(workerIds);
    }
  });

  it("should ack a 10 000-event PublishStream in order and deliver every event once", async () => {
    const sub = subscriber("--pattern", "events.stream.#", "--max", "10000");
    await sub.waitFor("ready");
    const pub = publisher("--topic", "events.stream.data", "--count", "10000", "--stream", "--batch", "50");
    expect(await pub.exited).toBe(0);
    const batches = messagesOf(pub, "batch");
    expect(batches.map((batch) => Number(batch.sequence))).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    const ackIds = batches.flatMap((batch) => (batch.ids as string[]).map(Number));
    expect(ackIds).toHaveLength(10_000);
    for (let i = 1; i < ackIds.length; i++) expect(ackIds[i]).toBe(ackIds[i - 1] + 1);

    expect(await sub.exited).toBe(0);
    expect(ids(sub)).toEqual(ackIds);
    expect(payloads(sub)).toEqual(Array.from({ length: 10_000 }, (_, i) => `e${i}`));
  });

  it("should replay stored events from an event_id, then continue live without gap or duplicate", async () => {
    const first = publisher("--topic", "events.file.changed", "--count", "20");
    expect(await first.exited).toBe(0);
    const firstIds = messagesOf(first, "ack").map((ack) => Number(ack.id));

    const replayFrom = firstIds[10];
    const sub = subscriber("--pattern", "events.file.#", "--from", String(replayFrom), "--max", "20");
    await sub.waitFor("ready");
    const second = publisher("--topic", "events.file.changed", "--count", "10", "--prefix", "live");
    expect(await second.exited).toBe(0);
    const secondIds = messagesOf(second, "ack").map((ack) => Number(ack.id));

    await sub.exited;
    expect(ids(sub)).toEqual([...firstIds.slice(10), ...secondIds]);
    expect(payloads(sub)).toEqual([...Array.from({ length: 10 }, (_, i) => `e${i + 10}`), ...Array.from({ length: 10 }, (_, i) => `live${i}`)]);
  });

  it("should cut a slow subscriber off with RESOURCE_EXHAUSTED while a fast one receives everything", async () => {
    const slow = subscriber("--pattern", "events.#", "--pause-after", "1", "--name", "slow");
    const fast = subscriber("--pattern", "events.#", "--max", "1000", "--name", "fast");
    await Promise.all([slow.waitFor("ready"), fast.waitFor("ready")]);

    // Unary publishes: a steady rate the fast subscriber keeps up with, while the
    // slow one stops reading after its first event: 8 MB of events fill its
    // HTTP/2 window and socket buffers, then its queue of 100.
    const pub = publisher("--topic", "events.net.flow", "--count", "1000", "--prefix", "x".repeat(8000));
    expect(await pub.exited).toBe(0);
    const acks = messagesOf(pub, "ack");
    expect(acks).toHaveLength(1000);
    expect(await fast.exited).toBe(0);
    expect(ids(fast)).toEqual(acks.map((ack) => Number(ack.id)));

    // Reading again, it gets the events already in flight to it, then the error.
    await slow.waitFor("paused");
    slow.child.kill("SIGUSR2");
    const cutOff = await slow.waitFor("error", 30_000);
    expect(cutOff.code).toBe(8); // Code.ResourceExhausted
    expect(cutOff.message).toMatch(/subscriber queue full: 100 events waiting/);
    expect(messagesOf(slow, "event").length).toBeLessThan(1000);
    // Once cut off, later events reach the fast subscriber only.
    expect(acks.at(-1)?.delivered).toBe(1);
  });
});
