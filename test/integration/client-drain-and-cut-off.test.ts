import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCorrelationClient } from "../../src/index.js";
import { type BrokerProcess, startBrokerProcess } from "../helpers/broker-process.js";
import { type FixtureProcess, messagesOf, spawnFixture } from "../helpers/fixture-process.js";

describe("the TypeScript client against a live broker", () => {
  let broker: BrokerProcess;
  const fixtures: FixtureProcess[] = [];

  beforeAll(async () => {
    broker = await startBrokerProcess(["--in-memory", "--subscriber-queue", "100"]);
  });

  afterAll(async () => {
    for (const fixture of fixtures) fixture.child.kill("SIGKILL");
    await broker.stop();
  });

  describe("drain and close", () => {
    it("should store every event published before drain(), unary and on a stream publisher, then close", async () => {
      const client = createCorrelationClient({ socketPath: broker.socketPath, sourceProcess: "drainer" });
      const root = client.newRootCorrelation("drain", { case: "drain" });
      const unary = Array.from({ length: 200 }, (_, i) => client.publish("events.drain.unary", { i }, { correlation: root }));
      const publisher = client.streamPublisher();
      const streamed = Array.from({ length: 300 }, (_, i) => publisher.publish(client.envelope("events.drain.stream", { i }, { correlation: root })));
      // Streams open, answers not yet read: close() here fails all 500 (as the next test shows for unary calls).
      await new Promise((resolve) => setImmediate(resolve));
      await client.drain();
      const settled = await Promise.allSettled([...unary, ...streamed]);
      expect(settled.filter((result) => result.status === "rejected")).toEqual([]);

      const reader = createCorrelationClient({ socketPath: broker.socketPath, sourceProcess: "reader" });
      try {
        const { workflow } = await reader.service.getWorkflow({ correlationId: root.correlationId });
        expect(workflow?.totalEvents).toBe(500n);
      } finally {
        reader.close();
      }
    });

    it("should end calls in flight at once on close(): what was not acknowledged fails", async () => {
      const client = createCorrelationClient({ socketPath: broker.socketPath, sourceProcess: "closer" });
      await client.publish("events.close.warm", "connect first");
      const calls = Array.from({ length: 200 }, (_, i) => client.publish("events.close.unary", { i }));
      // Once their streams are open (a turn of the event loop), and before the broker's answers are read.
      await new Promise((resolve) => setImmediate(resolve));
      client.close();
      const settled = await Promise.allSettled(calls);
      expect(settled.filter((result) => result.status === "rejected").length).toBeGreaterThan(0);
    });
  });

  describe("a subscriber cut off for lagging", () => {
    it("should tell onCutOff and count cutOffs, then replay so that nothing is missed", async () => {
      const slow = spawnFixture("subscriber", [
        "--socket",
        broker.socketPath,
        "--pattern",
        "events.lag.#",
        "--pause-after",
        "1",
        "--max",
        "1000",
        "--reconnect",
        "--name",
        "slow",
      ]);
      fixtures.push(slow);
      await slow.waitFor("ready");
      // The slow one stops reading after its first event: 8 MB of events fill its read-ahead, HTTP/2 window and
      // socket buffers, then its queue of 100 (--subscriber-queue), and the broker cuts it off.
      const publisher = spawnFixture("publisher", [
        "--socket",
        broker.socketPath,
        "--topic",
        "events.lag.flow",
        "--count",
        "1000",
        "--prefix",
        "x".repeat(8000),
      ]);
      fixtures.push(publisher);
      expect(await publisher.exited).toBe(0);
      const acks = messagesOf(publisher, "ack").map((ack) => String(ack.id));
      expect(acks).toHaveLength(1000);

      await slow.waitFor("paused");
      slow.child.kill("SIGUSR2");
      const cutOff = await slow.waitFor("cutoff", 30_000);
      expect(cutOff).toMatchObject({ cutOffs: 1, code: 8 }); // Code.ResourceExhausted
      expect(cutOff.message).toMatch(/subscriber queue full: 100 events waiting/);
      const end = await slow.waitFor("end", 30_000);
      expect(end).toMatchObject({ received: 1000 });
      expect(Number(end.cutOffs)).toBeGreaterThanOrEqual(1);
      expect(messagesOf(slow, "event").map((event) => String(event.id))).toEqual(acks);

      const stats = createCorrelationClient({ socketPath: broker.socketPath, sourceProcess: "stats" });
      try {
        expect((await stats.service.getStats({})).subscribersCutOff).toBeGreaterThanOrEqual(1n);
      } finally {
        stats.close();
      }
    });
  });
});
