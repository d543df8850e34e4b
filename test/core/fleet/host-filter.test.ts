import { describe, expect, it } from "vitest";
import type { EventEnvelope } from "../../../gen/corrbus/v1/envelope_pb.js";
import { CorrelationBroker } from "../../../src/core/correlation-broker.js";
import { envelope, unverifiedPeer, uuidFor } from "../core-fixtures.js";
import { publishNow } from "../publish-now.js";

/** An event another host's broker accepted as `originId`, tagged with the investigation. */
function fromHost(hostId: string, originId: number, tags: Record<string, string>): EventEnvelope {
  const event = envelope("events.process.started", { correlationId: uuidFor(originId), correlationTags: tags });
  event.hostId = hostId;
  event.eventId = BigInt(originId);
  return event;
}

const query = (broker: CorrelationBroker, hostId: string | undefined, tags = { investigation_id: "INC-1" }) =>
  broker.findByTag({ tags, topicPattern: "", hostId, limit: 1000, cursor: 0, oldestFirst: true }).ids;

describe("FindByTag's host filter on a central broker", () => {
  it("should answer each host's events from the host index and the broker's own by their stamp, through eviction", async () => {
    const broker = new CorrelationBroker({ historyMaxEvents: 30 }, Date.now, undefined, {}, { hostId: "central" });
    const hosts = ["host-a", "host-b", "host-c"];
    let origin = 0;
    const batch = () =>
      Array.from({ length: 12 }, (_, index) => fromHost(hosts[index % 3], ++origin, { investigation_id: index % 2 === 0 ? "INC-1" : "INC-2" }));
    await broker.ingest(batch());
    const own = publishNow(broker, envelope("events.local", { correlationId: uuidFor(9000), correlationTags: { investigation_id: "INC-1" } }), unverifiedPeer);
    const hostOf = (id: number) => broker.event(id)?.hostId;
    const check = () => {
      const all = query(broker, undefined);
      for (const host of [...hosts, "central"]) expect(query(broker, host)).toEqual(all.filter((id) => hostOf(id) === host));
      expect(query(broker, "host-z")).toEqual([]);
      expect(query(broker, "host-a", { investigation_id: "INC-2" })).toEqual(
        query(broker, undefined, { investigation_id: "INC-2" }).filter((id) => hostOf(id) === "host-a"),
      );
    };
    check();
    expect(query(broker, "central")).toEqual([own.eventId]);
    expect(broker.stats().indexes.hosts).toBe(3);
    // Past historyMaxEvents the oldest go, and with them their host index entries.
    for (let round = 0; round < 4; round++) {
      await broker.ingest(batch());
      check();
    }
    expect(query(broker, "central")).toEqual([]);
    expect(broker.stats().indexes.hosts).toBe(3);
    // Once only host-a's events are held, the other hosts have left the index.
    await broker.ingest(Array.from({ length: 30 }, () => fromHost("host-a", ++origin, { investigation_id: "INC-1" })));
    check();
    expect(broker.stats().indexes.hosts).toBe(1);
  });
});
