import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CorrelationClient, createCorrelationClient, defaultMaxRequestBytes } from "../../src/index.js";
import { type BrokerProcess, startBrokerProcess } from "../helpers/broker-process.js";

// A request over the broker's read limit (--max-payload + 16 MiB, 17 MiB by
// default) must fail with RESOURCE_EXHAUSTED naming a limit, on every path of
// the TS client, and leave the client usable. Over gRPC the broker resets such
// a request with ENHANCE_YOUR_CALM and every later stream of that connection
// too: the client used to answer INTERNAL, then fail every call the same way.
const caught = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: unknown) => ConnectError.from(error),
  );

const tooLarge = new Uint8Array(defaultMaxRequestBytes + 1024 * 1024);

describe("a request larger than the broker reads", () => {
  let broker: BrokerProcess;
  const clients: CorrelationClient[] = [];

  beforeAll(async () => {
    broker = await startBrokerProcess(["--in-memory"]);
  });

  afterAll(async () => {
    for (const client of clients) client.close();
    await broker.stop();
  });

  const client = (options: Parameters<typeof createCorrelationClient>[0]) => {
    const made = createCorrelationClient({ socketPath: broker.socketPath, ...options });
    clients.push(made);
    return made;
  };

  const publishStreamOf = async (bus: CorrelationClient, payload: Uint8Array) => {
    for await (const _ of bus.service.publishStream(
      (async function* () {
        yield { envelopes: [bus.envelope("events.size.stream", payload)] };
      })(),
    ))
      void _;
  };

  for (const [name, options] of [
    ["gRPC", { protocol: "grpc" }],
    ["Connect on the lean paths", { protocol: "connect" }],
    ["Connect through the stock client", { protocol: "connect", leanPaths: false }],
  ] as const) {
    it(`should answer RESOURCE_EXHAUSTED naming the limit and stay usable (${name})`, async () => {
      const bus = client(options);
      for (const attempt of [() => bus.publish("events.size.big", tooLarge), () => publishStreamOf(bus, tooLarge)]) {
        const error = await caught(attempt());
        expect(error?.code).toBe(Code.ResourceExhausted);
        // The client's limit (writeMaxBytes) or the broker's (readMaxBytes): the same number.
        expect(error?.rawMessage).toMatch(new RegExp(`larger than configured (write|read)MaxBytes ${defaultMaxRequestBytes}`));
        const after = await bus.publish("events.size.small", "x");
        expect(after.eventId).toBeGreaterThan(0n);
      }
    });
  }

  it("should answer RESOURCE_EXHAUSTED and reconnect when the broker resets a gRPC request over its limit (client limit raised past it)", async () => {
    const bus = client({ protocol: "grpc", maxRequestBytes: 64 * 1024 * 1024 });
    for (const attempt of [() => bus.publish("events.size.big", tooLarge), () => publishStreamOf(bus, tooLarge)]) {
      const error = await caught(attempt());
      expect(error?.code).toBe(Code.ResourceExhausted);
      expect(error?.rawMessage).toContain(`the broker on ${broker.socketPath} reset the request (ENHANCE_YOUR_CALM): larger than the broker reads`);
      // The reset connection is dropped: the next calls open a fresh one.
      for (let i = 0; i < 3; i++) expect((await bus.publish("events.size.small", "x")).eventId).toBeGreaterThan(0n);
    }
  });

  it("should reset only the too-large request's connection: a live subscription elsewhere keeps its events", async () => {
    const watcher = client({});
    const subscription = watcher.subscribe(["events.size.#"], { reconnect: false });
    await subscription.ready;
    const bus = client({ protocol: "grpc", maxRequestBytes: 64 * 1024 * 1024 });
    expect((await caught(bus.publish("events.size.big", tooLarge)))?.code).toBe(Code.ResourceExhausted);
    const sent = await bus.publish("events.size.small", "after");
    for await (const event of subscription) {
      expect(event.eventId).toBe(sent.eventId);
      break;
    }
  });
});
