import { jetstreamManager } from "@nats-io/jetstream";
import { type NatsConnection, connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PubAckPipeline } from "../../src/fleet/pub-ack-pipeline.js";
import { type NatsServerProcess, natsServerVersion, startNatsServer } from "../helpers/nats-server.js";

const hasNatsServer = natsServerVersion() !== undefined;
const inCi = process.env.CI === "true";
if (!hasNatsServer && !inCi) console.warn("pub-ack-pipeline.test: skipped, nats-server not found (apt-get install nats-server)");

const bytes = (text: string) => new TextEncoder().encode(text);

describe.skipIf(!hasNatsServer && !inCi)("PubAckPipeline against a real nats-server", () => {
  let nats: NatsServerProcess;
  let nc: NatsConnection;

  beforeAll(async () => {
    nats = (await startNatsServer()) as NatsServerProcess;
    nc = await connect({ servers: nats.url });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "PIPE", subjects: ["pipe.>"], duplicate_window: 60_000_000_000 });
  });

  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
  });

  it("should answer each message with its own PubAck, telling duplicates apart, many in flight at once", async () => {
    const pipeline = new PubAckPipeline(nc);
    const acks = await Promise.all(Array.from({ length: 300 }, (_, index) => pipeline.publish(`pipe.a.${index % 3}`, bytes(`m${index}`), `id-${index % 200}`)));
    expect(acks.filter((ack) => ack.duplicate)).toHaveLength(100);
    expect(acks.slice(0, 200).every((ack) => !ack.duplicate)).toBe(true);
    expect(pipeline.waitingCount).toBe(0);
    const jsm = await jetstreamManager(nc);
    expect((await jsm.streams.info("PIPE")).state.messages).toBe(200);
    pipeline.close();
  });

  it("should fail a message no stream takes, naming why, and go on with the next", async () => {
    const pipeline = new PubAckPipeline(nc);
    await expect(pipeline.publish("nowhere.a", bytes("x"), "n-1")).rejects.toThrow(/JetStream did not take the message: 503/);
    expect((await pipeline.publish("pipe.b", bytes("y"), "b-1")).duplicate).toBe(false);
    pipeline.close();
  });

  // A subscriber that takes the messages and never answers stands for a server that stopped answering:
  // the requests have a responder (no 503), and no PubAck ever comes. (SIGSTOP of nats-server did not
  // stop it in time on a loaded machine: 3 runs of 8 got their PubAck.)
  async function silentResponder(subject: string): Promise<{ received: () => number; stop: () => void }> {
    let received = 0;
    const subscription = nc.subscribe(subject, {
      callback: () => {
        received++;
      },
    });
    await nc.flush();
    return { received: () => received, stop: () => subscription.unsubscribe() };
  }

  it("should fail every waiting message once the oldest waited past the timeout (a server that stopped answering)", async () => {
    const silent = await silentResponder("silent.c");
    const pipeline = new PubAckPipeline(nc, 300);
    try {
      const started = Date.now();
      const waiting = [pipeline.publish("silent.c", bytes("1"), "c-1"), pipeline.publish("silent.c", bytes("2"), "c-2")];
      for (const one of waiting) await expect(one).rejects.toThrow(/no PubAck from JetStream within 300 ms/);
      expect(Date.now() - started).toBeGreaterThanOrEqual(290);
      expect(pipeline.waitingCount).toBe(0);
      expect(silent.received()).toBe(2);
      // The next message after a timeout is answered as usual.
      expect((await pipeline.publish("pipe.c", bytes("3"), "c-3")).duplicate).toBe(false);
    } finally {
      silent.stop();
      pipeline.close();
    }
  });

  it("should fail what still waits when closed", async () => {
    const silent = await silentResponder("silent.d");
    const pipeline = new PubAckPipeline(nc);
    try {
      const waiting = pipeline.publish("silent.d", bytes("1"), "d-1");
      pipeline.close();
      await expect(waiting).rejects.toThrow(/closed before JetStream answered/);
    } finally {
      silent.stop();
    }
  });
});
