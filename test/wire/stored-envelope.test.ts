import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { clone, create, createRegistry, equals, fromBinary, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type EventEnvelope, EventEnvelopeSchema } from "../../gen/corrbus/v1/envelope_pb.js";
import { rememberReceived } from "../../src/wire/encoded-events.js";
import {
  decodeStoredEnvelope,
  encodeStamps,
  joinEnvelope,
  splitForStorage,
  storedEnvelopeBytes,
  storedEnvelopeSize,
  writeStoredEnvelope,
} from "../../src/wire/stored-envelope.js";
import { messageArbitrary } from "./schema-arbitraries.js";

/** Unknown fields (a newer schema's) on the envelope and its metadata, sometimes. */
const unknown = fc.option(fc.tuple(fc.integer({ min: 100, max: 2000 }), fc.uint8Array({ maxLength: 20 })), { nil: undefined });

/** A stamped event as the broker stores it: every field of the schema, from the descriptors, and unknown ones. */
const stamped = fc.tuple(messageArbitrary(EventEnvelopeSchema), unknown, unknown).map(([event, onEnvelope, onMetadata]) => {
  if (onEnvelope !== undefined) event.$unknown = [{ no: onEnvelope[0], wireType: 2, data: Uint8Array.from([onEnvelope[1].length, ...onEnvelope[1]]) }];
  if (onMetadata !== undefined && event.correlationMetadata !== undefined) {
    event.correlationMetadata.$unknown = [{ no: onMetadata[0], wireType: 2, data: Uint8Array.from([onMetadata[1].length, ...onMetadata[1]]) }];
  }
  return event;
});

const withUnknown = { registry: createRegistry(), unknown: true };

function expectSplitOf(event: EventEnvelope): void {
  const split = splitForStorage(event);
  const whole = joinEnvelope(split);
  expect(equals(EventEnvelopeSchema, fromBinary(EventEnvelopeSchema, whole), event, withUnknown)).toBe(true);
  expect(split.encodedSize).toBe(toBinary(EventEnvelopeSchema, event).length);
  const stored = decodeStoredEnvelope(split.body, split.template);
  expect(equals(EventEnvelopeSchema, stored, { ...event, eventId: 0n, receivedAt: undefined }, withUnknown)).toBe(true);
}

describe("splitForStorage", () => {
  it("should split every stamped event so that body ‖ stamps ‖ template decodes to it, unknown fields included, and count its size", () => {
    fc.assert(fc.property(stamped, expectSplitOf), { numRuns: 500 });
  });

  it("should keep the bytes an envelope was received as, but for the stamps the broker wrote over", () => {
    fc.assert(
      fc.property(stamped, messageArbitrary(EventEnvelopeSchema), (sent, stamps) => {
        // A publisher's bytes, stamps included (they are ignored); the broker then stamps its own on the decoded message.
        const bytes = toBinary(EventEnvelopeSchema, sent);
        const received = rememberReceived(fromBinary(EventEnvelopeSchema, bytes), bytes);
        received.eventId = stamps.eventId;
        received.receivedAt = stamps.receivedAt;
        received.publisher = stamps.publisher;
        const expected = clone(EventEnvelopeSchema, sent);
        expected.eventId = stamps.eventId;
        expected.receivedAt = stamps.receivedAt;
        expected.publisher = stamps.publisher;
        expect(equals(EventEnvelopeSchema, fromBinary(EventEnvelopeSchema, joinEnvelope(splitForStorage(received))), expected, withUnknown)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it("should merge metadata given twice as every protobuf decoder does", () => {
    const first = toBinary(EventEnvelopeSchema, create(EventEnvelopeSchema, { correlationMetadata: { correlationId: "a", workflowStage: "one" } }));
    const second = toBinary(EventEnvelopeSchema, create(EventEnvelopeSchema, { correlationMetadata: { sourceProcess: "x" } }));
    const bytes = Buffer.concat([first, second]);
    const decoded = rememberReceived(fromBinary(EventEnvelopeSchema, bytes), bytes);
    const stored = fromBinary(EventEnvelopeSchema, joinEnvelope(splitForStorage(decoded)));
    expect(stored.correlationMetadata).toMatchObject({ correlationId: "a", workflowStage: "one", sourceProcess: "x" });
  });

  it("should merge metadata given twice with a field in both as the generated decoder does (the later value wins, map entries add up)", () => {
    const first = toBinary(
      EventEnvelopeSchema,
      create(EventEnvelopeSchema, { correlationMetadata: { correlationId: "a", workflowStage: "one", correlationTags: { k: "1" } } }),
    );
    const second = toBinary(EventEnvelopeSchema, create(EventEnvelopeSchema, { correlationMetadata: { workflowStage: "two", correlationTags: { j: "2" } } }));
    const bytes = Buffer.concat([first, second]);
    const decoded = rememberReceived(fromBinary(EventEnvelopeSchema, bytes), bytes);
    const stored = fromBinary(EventEnvelopeSchema, joinEnvelope(splitForStorage(decoded)));
    expect(equals(EventEnvelopeSchema, stored, fromBinary(EventEnvelopeSchema, bytes), withUnknown)).toBe(true);
  });

  it("should split the journal's own stored form again to the same envelope, taking its stamps as written (start-up replay)", () => {
    fc.assert(
      fc.property(stamped, messageArbitrary(EventEnvelopeSchema), (sent, stamps) => {
        const bytes = toBinary(EventEnvelopeSchema, sent);
        const received = rememberReceived(fromBinary(EventEnvelopeSchema, bytes), bytes);
        received.eventId = stamps.eventId;
        received.receivedAt = stamps.receivedAt;
        received.publisher = stamps.publisher;
        const journaled = joinEnvelope(splitForStorage(received));
        const replayed = rememberReceived(fromBinary(EventEnvelopeSchema, journaled), journaled);
        const again = fromBinary(EventEnvelopeSchema, joinEnvelope(splitForStorage(replayed, undefined, true)));
        expect(equals(EventEnvelopeSchema, again, fromBinary(EventEnvelopeSchema, journaled), withUnknown)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});

describe("encodeStamps", () => {
  it("should write event_id and received_at exactly as toBinary does, for any values", () => {
    fc.assert(
      fc.property(messageArbitrary(EventEnvelopeSchema), (event) => {
        const stamps = create(EventEnvelopeSchema, { eventId: event.eventId, receivedAt: event.receivedAt });
        expect(Buffer.from(encodeStamps(event.eventId, event.receivedAt))).toEqual(Buffer.from(toBinary(EventEnvelopeSchema, stamps)));
      }),
      { numRuns: 500 },
    );
  });
});

describe("storedEnvelopeBytes", () => {
  it("should answer body, toBinary's stamps for the id and timestampFromMs(ms), and the template, in one buffer, for any numbers; written in place the same, at its size", () => {
    const anyNumber = fc.oneof(fc.nat(), fc.maxSafeNat(), fc.double({ noNaN: true }), fc.constantFrom(0, -1, 2 ** 53, 1.5));
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 8 }),
        anyNumber,
        anyNumber,
        fc.option(fc.uint8Array({ maxLength: 8 }), { nil: undefined }),
        fc.nat(4),
        (body, id, ms, templateBytes, offset) => {
          // The template as MetadataTemplates keeps it: its bytes as a latin1 string.
          const template = templateBytes === undefined ? undefined : Buffer.from(templateBytes).toString("latin1");
          let expected: Buffer;
          try {
            const stamps = toBinary(EventEnvelopeSchema, create(EventEnvelopeSchema, { eventId: BigInt(id), receivedAt: timestampFromMs(ms) }));
            expected = Buffer.concat(templateBytes === undefined ? [body, stamps] : [body, stamps, templateBytes]);
          } catch {
            // Numbers no stamp can hold (fractions, out of range): refused as the generated code refuses them.
            expect(() => storedEnvelopeBytes(body, id, ms, template)).toThrow();
            expect(() => storedEnvelopeSize(body, id, ms, template)).toThrow();
            return;
          }
          expect(Buffer.from(storedEnvelopeBytes(body, id, ms, template))).toEqual(expected);
          expect(storedEnvelopeSize(body, id, ms, template)).toBe(expected.length);
          // In place, between other bytes that must stay as they were.
          const out = Buffer.alloc(offset + expected.length + 3, 0xee);
          expect(writeStoredEnvelope(out, offset, body, id, ms, template)).toBe(offset + expected.length);
          expect(out.subarray(offset, offset + expected.length)).toEqual(expected);
          expect([...out.subarray(0, offset), ...out.subarray(offset + expected.length)].every((byte) => byte === 0xee)).toBe(true);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("should write a time past 2^53 / 1000 s as timestampFromMs converts it (the property's counterexample, seed 1800484488)", () => {
    const ms = 141341505319449000;
    const expected = toBinary(EventEnvelopeSchema, create(EventEnvelopeSchema, { receivedAt: timestampFromMs(ms) }));
    expect(Buffer.from(storedEnvelopeBytes(new Uint8Array(0), 0, ms, undefined))).toEqual(Buffer.from(expected));
  });
});
