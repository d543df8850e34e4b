import { Code, ConnectError, type createClient } from "@connectrpc/connect";
import type { Http2SessionManager } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CorrelationService, type CorrelationClient, createCorrelationClient, InvalidFieldSchema } from "../../src/index.js";
import { type BrokerProcess, startBrokerProcess } from "../helpers/broker-process.js";
import { stockClient } from "../helpers/stock-client.js";

// Publish has a lean path on both sides (Connect binary); every other shape
// goes through connect-node. Clients must not be able to tell them apart.
// Run against a broker with its lean paths and one with --no-lean-paths (every call through connect-node).
for (const brokerArgs of [[], ["--no-lean-paths"]] as string[][]) {
  describe(`Publish on the lean path and through connect-node (broker ${brokerArgs.join(" ") || "with its lean paths"})`, () => {
    let broker: BrokerProcess;
    let lean: CorrelationClient;
    const stock: { name: string; client: ReturnType<typeof createClient<typeof CorrelationService>>; session: Http2SessionManager }[] = [];

    beforeAll(async () => {
      broker = await startBrokerProcess(brokerArgs);
      lean = createCorrelationClient({ socketPath: broker.socketPath, sourceProcess: "lean" });
      for (const name of ["gRPC", "Connect JSON"] as const) stock.push({ name, ...stockClient(broker.socketPath, name) });
    });

    afterAll(async () => {
      lean.close();
      for (const { session } of stock) session.abort();
      await broker.stop();
    });

    const caught = (promise: Promise<unknown>) =>
      promise.then(
        () => undefined,
        (error: unknown) => ConnectError.from(error),
      );

    it("should answer the same event ids and delivery counts on every path", async () => {
      const subscription = lean.subscribe(["events.paths.#"]);
      await subscription.ready;
      const answers = [await lean.service.publish({ envelope: { topic: "events.paths.lean" } })];
      for (const { client } of stock) answers.push(await client.publish({ envelope: { topic: "events.paths.stock" } }));
      expect(answers.map((answer) => answer.deliveredCount)).toEqual([1, 1, 1]);
      expect(answers[1].eventId).toBe(answers[0].eventId + 1n);
      expect(answers[2].eventId).toBe(answers[0].eventId + 2n);
      expect(answers.every((answer) => answer.receivedAt !== undefined)).toBe(true);
      subscription.close();
    });

    it("should refuse bad input with the same code, message and InvalidField detail on every path", async () => {
      const request = { envelope: { topic: "events.Bad" } };
      const errors = [await caught(lean.service.publish(request))];
      for (const { client } of stock) errors.push(await caught(client.publish(request)));
      for (const error of errors) {
        expect(error?.code).toBe(Code.InvalidArgument);
        expect(error?.rawMessage).toBe('topic: segment 2 "Bad" of "events.Bad" must match [a-z0-9_-]+');
        expect(error?.findDetails(InvalidFieldSchema).map((detail) => detail.field)).toEqual(["topic"]);
      }
      const missing = await caught(lean.service.publish({}));
      expect([missing?.code, missing?.rawMessage]).toEqual([Code.InvalidArgument, "envelope: is required"]);
    });

    it("should ack the batches of a stream before a refused one, refuse it whole, and read nothing after it", async () => {
      const before = await lean.service.getStats({});
      const batch = (topics: string[]) => ({ envelopes: topics.map((topic) => lean.envelope(topic, "x")) });
      async function* batches() {
        yield batch(["events.paths.a", "events.paths.b"]);
        yield batch(["events.paths.c", "events.Bad.d", "events.paths.e"]);
        yield batch(["events.paths.f"]);
      }
      const acks: bigint[][] = [];
      const error = await (async () => {
        for await (const ack of lean.service.publishStream(batches())) acks.push(ack.eventIds);
      })().then(
        () => undefined,
        (caught: unknown) => ConnectError.from(caught),
      );
      expect(acks).toHaveLength(1);
      expect(acks[0]).toHaveLength(2);
      expect(error?.code).toBe(Code.InvalidArgument);
      expect(error?.rawMessage).toBe('envelopes[1].topic: segment 2 "Bad" of "events.Bad.d" must match [a-z0-9_-]+');
      const after = await lean.service.getStats({});
      expect(after.eventsPublished - before.eventsPublished).toBe(2n);
    });

    it("should ack, refuse and end PublishStream the same way on the lean path and the stock gRPC path", async () => {
      const batch = (topics: string[]) => ({ envelopes: topics.map((topic) => lean.envelope(topic, "x")) });
      async function* batches() {
        yield batch(["events.paths.a", "events.paths.b"]);
        yield batch(["events.paths.c"]);
        yield batch(["events.Bad.d"]);
      }
      const outcomes = [];
      for (const publishStream of [lean.service.publishStream, stock[0].client.publishStream]) {
        const acks: { ids: number; sequence: bigint }[] = [];
        const error = await caught(
          (async () => {
            for await (const ack of publishStream(batches())) acks.push({ ids: ack.eventIds.length, sequence: ack.batchSequence });
          })(),
        );
        outcomes.push({ acks, code: error?.code, message: error?.rawMessage, fields: error?.findDetails(InvalidFieldSchema).map((detail) => detail.field) });
      }
      expect(outcomes[0]).toEqual({
        acks: [
          { ids: 2, sequence: 1n },
          { ids: 1, sequence: 2n },
        ],
        code: Code.InvalidArgument,
        message: 'envelopes[0].topic: segment 2 "Bad" of "events.Bad.d" must match [a-z0-9_-]+',
        fields: ["envelopes[0].topic"],
      });
      expect(outcomes[1]).toEqual(outcomes[0]);
    });

    it("should end a lean PublishStream with the error its batches threw, or CANCELED when aborted, and keep the session usable", async () => {
      async function* failing() {
        yield { envelopes: [lean.envelope("events.paths.a", "x")] };
        throw new Error("collector crashed");
      }
      const thrown = await caught(
        (async () => {
          for await (const _ of lean.service.publishStream(failing())) void _;
        })(),
      );
      expect(thrown?.rawMessage).toBe("collector crashed");

      const controller = new AbortController();
      async function* endless() {
        for (;;) {
          yield { envelopes: [lean.envelope("events.paths.a", "x")] };
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      }
      let acked = 0;
      const aborted = await caught(
        (async () => {
          for await (const _ of lean.service.publishStream(endless(), { signal: controller.signal })) {
            void _;
            if (++acked === 3) controller.abort();
          }
        })(),
      );
      expect(aborted?.code).toBe(Code.Canceled);
      expect((await lean.service.publish({ envelope: { topic: "events.paths.after" } })).eventId).toBeGreaterThan(0n);
    });

    it("should honour an abort signal and a timeout on the lean client", async () => {
      const aborted = new AbortController();
      aborted.abort();
      expect((await caught(lean.service.publish({ envelope: { topic: "events.paths.x" } }, { signal: aborted.signal })))?.code).toBe(Code.Canceled);
      const answer = await lean.service.publish({ envelope: { topic: "events.paths.x" } }, { timeoutMs: 5000 });
      expect(answer.eventId).toBeGreaterThan(0n);
    });

    it("should answer UNAVAILABLE naming the socket when no broker listens, on the lean and the stock path", async () => {
      const socketPath = `${broker.directory}/nobody.sock`;
      const orphan = createCorrelationClient({ socketPath });
      try {
        const streamed = (async () => {
          for await (const _ of orphan.service.publishStream((async function* () {})())) void _;
        })();
        for (const attempt of [orphan.publish("events.paths.x", "x"), orphan.service.getStats({}), streamed]) {
          const error = await caught(attempt);
          expect(error?.code).toBe(Code.Unavailable);
          expect(error?.rawMessage).toBe(`no broker listening on ${socketPath} (ENOENT): start \`corrbus serve\` or set CORRBUS_SOCKET`);
        }
      } finally {
        orphan.close();
      }
    });
  });
}
