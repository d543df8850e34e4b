import { fromBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { EventEnvelopeSchema } from "../../gen/corrbus/v1/envelope_pb.js";
import { matchingTags } from "../../bench/bench-workload.js";
import { simulatedHostEvent, simulatedHostId, simulatedMatches, simulatedStream } from "../../bench/fleet-simulated-hosts.js";
import { eventSubject, messageId } from "../../src/fleet/fleet-stream.js";

describe("the bench's simulated hosts", () => {
  describe("a message", () => {
    it("should carry what a host's forwarder publishes: its host's subject and Nats-Msg-Id, and bytes that decode to the stamped event", () => {
      const message = simulatedHostEvent(42, 7, 1000);
      const envelope = fromBinary(EventEnvelopeSchema, message.bytes);
      expect(envelope.hostId).toBe(simulatedHostId(42));
      expect(envelope.eventId).toBe(8n);
      expect(envelope.receivedAt).toBeDefined();
      expect(envelope.payload.length).toBe(200);
      expect(message.subject).toBe(eventSubject(simulatedStream.subjectPrefix, simulatedHostId(42), envelope.topic));
      expect(message.msgId).toBe(messageId(simulatedHostId(42), 8));
      // The central refuses a message whose subject names another host than its event (stream-ingester.ts).
      expect(message.subject.split(".")[1]).toBe(envelope.hostId);
    });

    it("should give every host its own correlations, so no two hosts' events share one", () => {
      const first = fromBinary(EventEnvelopeSchema, simulatedHostEvent(0, 0, 1000).bytes).correlationMetadata?.correlationId;
      const second = fromBinary(EventEnvelopeSchema, simulatedHostEvent(1, 0, 1000).bytes).correlationMetadata?.correlationId;
      expect(first).toBeDefined();
      expect(first).not.toBe(second);
    });
  });

  describe("the queried tag", () => {
    // Counted over the events themselves, with as many events per host as the quick run (1000: some hosts have no match)
    // and the full run (10 000: every host has one correlation that matches), on fewer hosts.
    for (const [hosts, eventsPerHost] of [
      [20, 1000],
      [2, 10_000],
    ]) {
      it(`should match as many events as simulatedMatches says, across the fleet and for host 0 (${hosts} hosts × ${eventsPerHost})`, () => {
        let all = 0;
        let hostZero = 0;
        for (let host = 0; host < hosts; host++) {
          for (let index = 0; index < eventsPerHost; index++) {
            const tags = fromBinary(EventEnvelopeSchema, simulatedHostEvent(host, index, eventsPerHost).bytes).correlationMetadata?.correlationTags ?? {};
            if (tags.investigation_id === matchingTags.investigation_id) {
              all++;
              if (host === 0) hostZero++;
            }
          }
        }
        expect(all).toBe(simulatedMatches(hosts, eventsPerHost));
        expect(hostZero).toBe(simulatedMatches(hosts, eventsPerHost, 0));
        expect(hostZero).toBe(100);
      });
    }
  });
});
