import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CorrelationClient, CorrelationMetadataSchema, createCorrelationClient } from "../../src/index.js";
import { type BrokerProcess, startBrokerProcess } from "../helpers/broker-process.js";

/** A typed answer with its bigints as numbers: what the plain form must equal (bytes as Uint8Array: the lean path answers Buffer views). */
function asNumbers(value: unknown): unknown {
  if (typeof value === "bigint") return Number(value);
  if (value instanceof Uint8Array) return Uint8Array.from(value);
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map(asNumbers);
  return Object.fromEntries(Object.entries(value).map(([key, field]) => [key, asNumbers(field)]));
}

describe("plain queries (bus.findByTag, bus.timeline)", () => {
  let broker: BrokerProcess;
  const clients: { name: string; client: CorrelationClient }[] = [];
  let rootId = "";

  beforeAll(async () => {
    broker = await startBrokerProcess([]);
    for (const [name, options] of [
      ["lean paths", {}],
      ["lean paths off", { leanPaths: false }],
      ["gRPC", { protocol: "grpc" }],
    ] as const) {
      clients.push({ name, client: createCorrelationClient({ socketPath: broker.socketPath, sourceProcess: "analyst", ...options }) });
    }
    const bus = clients[0].client;
    const root = bus.newRootCorrelation("enumeration", { investigation_id: "INC-P", constructor: "tag" });
    rootId = root.correlationId;
    await bus.publish("events.plain.start", "root", { correlation: root });
    for (let step = 0; step < 2; step++) {
      const child = bus.childCorrelation(root, "integrity", { step: String(step) });
      for (let event = 0; event < 3; event++) await bus.publish("events.plain.observed", { step, event }, { correlation: child, final: event === 2 });
    }
  });

  afterAll(async () => {
    for (const { client } of clients) client.close();
    await broker.stop();
  });

  it("should answer what the typed client answers, with numbers for its bigints, on every path", async () => {
    const reference = clients[0].client.service;
    const typedFind = asNumbers(await reference.findByTag({ tags: { investigation_id: "INC-P" }, limit: 4 }));
    const typedTimeline = asNumbers(await reference.getTimeline({ rootCorrelationId: rootId }));
    for (const { name, client } of clients) {
      const page = await client.findByTag({ tags: { investigation_id: "INC-P" }, limit: 4 });
      expect(asNumbers(page), name).toEqual(typedFind);
      expect(typeof page.events[0].eventId, name).toBe("number");
      expect(typeof page.events[0].correlationMetadata?.sequenceNumber, name).toBe("number");
      expect(page.events[0].correlationMetadata?.correlationTags.investigation_id, name).toBe("INC-P");
      // A tag named like a prototype member is a tag.
      expect(Object.getOwnPropertyDescriptor(page.events[0].correlationMetadata?.correlationTags, "constructor")?.value, name).toBe("tag");
      const next = await client.findByTag({ tags: { investigation_id: "INC-P" }, limit: 4, pageToken: page.nextPageToken });
      expect(
        next.events.map((event) => event.eventId),
        name,
      ).toEqual(
        (await reference.findByTag({ tags: { investigation_id: "INC-P" }, limit: 4, pageToken: page.nextPageToken })).events.map((event) =>
          Number(event.eventId),
        ),
      );
      const timeline = await client.timeline({ rootCorrelationId: rootId });
      expect(asNumbers(timeline), name).toEqual(typedTimeline);
      expect(timeline.events).toHaveLength(7);
      expect(timeline.correlations).toHaveLength(3);
      const after = await client.timeline({ rootCorrelationId: rootId, afterEventId: timeline.events[4].eventId, limit: 10 });
      expect(
        after.events.map((event) => event.eventId),
        name,
      ).toEqual(timeline.events.slice(5).map((event) => event.eventId));
    }
  });

  it("should refuse a sequence number a number cannot hold exactly, naming the field, where the typed client answers it", async () => {
    const bus = clients[0].client;
    const root = bus.newRootCorrelation("enumeration", { investigation_id: "INC-BIG" });
    const big = create(CorrelationMetadataSchema, { ...root, sequenceNumber: 2n ** 53n + 1n });
    expect(toBinary(CorrelationMetadataSchema, big).length).toBeGreaterThan(0);
    await bus.service.publish({ envelope: { topic: "events.plain.big", payload: new Uint8Array([1]), correlationMetadata: big } });
    for (const { name, client } of clients) {
      await expect(client.findByTag({ tags: { investigation_id: "INC-BIG" } }), name).rejects.toThrow(/sequence_number: 9007199254740993 is not exact/);
    }
    const typed = await bus.service.findByTag({ tags: { investigation_id: "INC-BIG" } });
    expect(typed.events[0].correlationMetadata?.sequenceNumber).toBe(2n ** 53n + 1n);
  });

  it("should refuse an afterEventId that is no event id with INVALID_ARGUMENT naming the field, before anything is sent", async () => {
    for (const afterEventId of [1.5, -1, 2 ** 60]) {
      const error = await clients[0].client.timeline({ rootCorrelationId: rootId, afterEventId }).then(
        () => undefined,
        (failure: unknown) => ConnectError.from(failure),
      );
      expect(error?.code).toBe(Code.InvalidArgument);
      expect(error?.rawMessage).toMatch(/^after_event_id: .* is not an event id/);
    }
  });
});
