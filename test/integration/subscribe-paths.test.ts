import { toJson } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CorrelationClient, type EventEnvelope, EventEnvelopeSchema, createCorrelationClient } from "../../src/index.js";
import { type BrokerProcess, startBrokerProcess } from "../helpers/broker-process.js";

/** The first `count` events of a subscription, as JSON (what every path must agree on). */
async function firstEvents(client: CorrelationClient, patterns: string[], fromEventId: bigint, count: number): Promise<unknown[]> {
  const subscription = client.subscribe(patterns, { fromEventId, reconnect: false });
  const events: EventEnvelope[] = [];
  try {
    for await (const event of subscription) {
      events.push(event);
      if (events.length === count) break;
    }
  } finally {
    subscription.close();
  }
  return events.map((event) => toJson(EventEnvelopeSchema, event));
}

async function failure(promise: Promise<unknown>): Promise<ConnectError | undefined> {
  return promise.then(
    () => undefined,
    (error: unknown) => ConnectError.from(error),
  );
}

// The TS client subscribes on its lean path (Connect binary on the HTTP/2 stream, the compiled
// decoder) unless told otherwise: clients must not be able to tell it from the stock client or gRPC.
describe("Subscribe on the client's lean path, the stock client and gRPC", () => {
  let broker: BrokerProcess;
  const clients: { name: string; client: CorrelationClient }[] = [];

  beforeAll(async () => {
    broker = await startBrokerProcess([]);
    for (const [name, options] of [
      ["lean path", {}],
      ["lean paths off", { leanPaths: false }],
      ["gRPC", { protocol: "grpc" }],
    ] as const) {
      clients.push({ name, client: createCorrelationClient({ socketPath: broker.socketPath, sourceProcess: "watcher", ...options }) });
    }
    const bus = clients[0].client;
    const root = bus.newRootCorrelation("enumeration", { investigation_id: "INC-S", constructor: "x" });
    for (let index = 0; index < 300; index++) {
      await bus.publish(`events.paths.${index % 3}`, { index }, { correlation: index % 2 === 0 ? root : undefined, final: index === 298 });
    }
  });

  afterAll(async () => {
    for (const { client } of clients) client.close();
    await broker.stop();
  });

  it("should replay the same events, then deliver the same live ones, on every path", async () => {
    const replayed = await Promise.all(clients.map(({ client }) => firstEvents(client, ["events.paths.1", "events.paths.2"], 1n, 200)));
    for (const [index, events] of replayed.entries()) expect(events, clients[index].name).toEqual(replayed[0]);
    expect(replayed[0]).toHaveLength(200);

    const live = clients.map(({ client }) => {
      const subscription = client.subscribe(["events.paths.live"], { reconnect: false });
      const received: Promise<unknown[]> = (async () => {
        const events: unknown[] = [];
        for await (const event of subscription) {
          events.push(toJson(EventEnvelopeSchema, event));
          if (events.length === 5) break;
        }
        subscription.close();
        return events;
      })();
      return { subscription, received };
    });
    await Promise.all(live.map(({ subscription }) => subscription.ready));
    for (let index = 0; index < 5; index++) await clients[0].client.publish("events.paths.live", `live ${index}`);
    const delivered = await Promise.all(live.map(({ received }) => received));
    for (const [index, events] of delivered.entries()) expect(events, clients[index].name).toEqual(delivered[0]);
  });

  it("should end with the broker's error, code and message alike, for a pattern it refuses", async () => {
    const errors = await Promise.all(clients.map(({ client }) => failure(firstEvents(client, ["events.Bad Pattern"], 1n, 1))));
    for (const [index, error] of errors.entries()) {
      expect(error?.code, clients[index].name).toBe(Code.InvalidArgument);
      expect(error?.rawMessage, clients[index].name).toBe(errors[0]?.rawMessage);
    }
  });

  it("should end with DEADLINE_EXCEEDED at the caller's deadline and quietly when the caller aborts", async () => {
    for (const { name, client } of clients) {
      const deadline = await failure(
        (async () => {
          for await (const _ of client.service.subscribe({ patterns: ["events.none"], subscriberName: "w" }, { timeoutMs: 300 })) {
            // the subscribed answer, then nothing
          }
        })(),
      );
      expect(deadline?.code, name).toBe(Code.DeadlineExceeded);
      const controller = new AbortController();
      const subscription = client.subscribe(["events.none"], { signal: controller.signal, reconnect: false });
      await subscription.ready;
      const ended = (async () => {
        for await (const _ of subscription) {
          // nothing comes
        }
        return "ended";
      })();
      controller.abort();
      expect(await ended, name).toBe("ended");
    }
  });
});
