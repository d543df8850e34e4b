import * as http2 from "node:http2";
import { connect } from "node:net";
import { create, toBinary, toJson } from "@bufbuild/protobuf";
import type { Client } from "@connectrpc/connect";
import type { Http2SessionManager } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FindByTagResponseSchema, GetTimelineRequestSchema, GetTimelineResponseSchema, WaitForResultsResponseSchema } from "../../gen/corrbus/v1/service_pb.js";
import { type CorrelationService, type CorrelationClient, createCorrelationClient } from "../../src/index.js";
import { type BrokerProcess, startBrokerProcess } from "../helpers/broker-process.js";
import { stockClient } from "../helpers/stock-client.js";

// A query answer of many events leaves the broker's lean path in chunks as they are written, and
// the TS client decodes them as they arrive. Answers of megabytes (many chunks, events cut across
// HTTP/2 frames) must be the same on every path, and a client that goes away halfway must cost
// the broker nothing but that answer.
describe("query answers sent as they are written", () => {
  let broker: BrokerProcess;
  let bus: CorrelationClient;
  const sessions: Http2SessionManager[] = [];
  const others: { name: string; client: Client<typeof CorrelationService> }[] = [];
  let rootId = "";
  const events = 900;

  beforeAll(async () => {
    broker = await startBrokerProcess();
    bus = createCorrelationClient({ socketPath: broker.socketPath, sourceProcess: "agent" });
    for (const name of ["gRPC", "Connect JSON"] as const) {
      const { client, session } = stockClient(broker.socketPath, name);
      sessions.push(session);
      others.push({ name, client });
    }
    const root = bus.newRootCorrelation("enumeration", { investigation_id: "INC-BIG" });
    rootId = root.correlationId;
    const publisher = bus.streamPublisher();
    const acks = [];
    for (let index = 0; index < events; index++) {
      const correlation = index < 300 ? root : bus.childCorrelation(root, "integrity", { step: String(Math.floor(index / 300)) });
      // Payloads of varied sizes (1-3 KB): events end anywhere in the broker's chunks and the frames.
      const payload = new Uint8Array(1000 + ((index * 977) % 2000)).fill(index % 251);
      acks.push(publisher.publish(bus.envelope("events.big.observed", payload, { correlation })));
    }
    await Promise.all(acks);
    await publisher.close();
  });

  afterAll(async () => {
    bus.close();
    for (const session of sessions) session.abort();
    await broker.stop();
  });

  it("should answer a timeline and a tag query of about 2 MB the same on the lean path, gRPC and Connect JSON, with and without payloads", async () => {
    for (const omitPayloads of [false, true]) {
      const timeline = JSON.stringify(toJson(GetTimelineResponseSchema, await bus.service.getTimeline({ rootCorrelationId: rootId, omitPayloads })));
      const found = JSON.stringify(
        toJson(FindByTagResponseSchema, await bus.service.findByTag({ tags: { investigation_id: "INC-BIG" }, limit: events, omitPayloads })),
      );
      const parsed = JSON.parse(timeline);
      expect(parsed.events).toHaveLength(events);
      expect(parsed.events.every((event: { payload?: string }) => (event.payload === undefined) === omitPayloads)).toBe(true);
      expect(JSON.parse(found).events).toHaveLength(events);
      for (const { name, client } of others) {
        expect([name, JSON.stringify(toJson(GetTimelineResponseSchema, await client.getTimeline({ rootCorrelationId: rootId, omitPayloads })))]).toEqual([
          name,
          timeline,
        ]);
        expect([
          name,
          JSON.stringify(toJson(FindByTagResponseSchema, await client.findByTag({ tags: { investigation_id: "INC-BIG" }, limit: events, omitPayloads }))),
        ]).toEqual([name, found]);
      }
      const plain = await bus.timeline({ rootCorrelationId: rootId, omitPayloads });
      expect(plain.events.map((event) => event.eventId)).toEqual(parsed.events.map((event: { eventId: string }) => Number(event.eventId)));
      expect(plain.events.map((event) => event.payload.length)).toEqual(
        parsed.events.map((event: { payload?: string }) => (event.payload === undefined ? 0 : Buffer.from(event.payload, "base64").length)),
      );
    }
  });

  it("should answer WaitForResults of many events the same on the lean path and gRPC", async () => {
    const expectedResults = 300;
    const lean = await bus.service.waitForResults({ correlationId: rootId, expectedResults });
    const grpc = await others[0].client.waitForResults({ correlationId: rootId, expectedResults });
    expect(lean.events).toHaveLength(expectedResults);
    expect(toJson(WaitForResultsResponseSchema, lean)).toEqual(toJson(WaitForResultsResponseSchema, grpc));
  });

  it("should go on serving when a client resets a large answer after its first chunk, or stops reading it", async () => {
    const session = http2.connect("http://localhost", { createConnection: () => connect(broker.socketPath) });
    const request = () =>
      session.request({
        ":method": "POST",
        ":path": "/corrbus.v1.CorrelationService/GetTimeline",
        "content-type": "application/proto",
        "connect-protocol-version": "1",
      });
    const body = toBinary(GetTimelineRequestSchema, create(GetTimelineRequestSchema, { rootCorrelationId: rootId }));
    const received: number[] = [];
    for (let attempt = 0; attempt < 5; attempt++) {
      const stream = request();
      stream.end(body);
      received.push(
        await new Promise<number>((resolve) => {
          stream.once("data", (chunk: Buffer) => {
            stream.close(http2.constants.NGHTTP2_CANCEL);
            resolve(chunk.length);
          });
        }),
      );
    }
    // One that is never read: the default 64 KiB window fills and the broker stops there.
    const stalled = request();
    stalled.pause();
    stalled.end(body);
    expect(received.every((length) => length > 0)).toBe(true);
    const again = await bus.timeline({ rootCorrelationId: rootId });
    expect(again.events).toHaveLength(events);
    expect((await bus.service.getStats({})).eventsPublished).toBe(BigInt(events));
    session.destroy();
    expect([broker.child.exitCode, broker.child.signalCode]).toEqual([null, null]);
  });
});
