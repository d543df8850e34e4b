import { clone, create, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CorrelationMetadataSchema } from "../../gen/corrbus/v1/correlation_pb.js";
import { EventEnvelopeSchema } from "../../gen/corrbus/v1/envelope_pb.js";
import { PublishRequestSchema, PublishStreamRequestSchema } from "../../gen/corrbus/v1/service_pb.js";
import { PublishRequestEncoder } from "../../src/wire/publish-request-encoder.js";
import { messageArbitrary } from "./schema-arbitraries.js";

// Envelopes with every field of the schema (from the descriptors), and a few metadata that events repeat.
const envelope = messageArbitrary(EventEnvelopeSchema);
const metadata = messageArbitrary(CorrelationMetadataSchema);
/** One event of a run: which shared metadata it carries (or its own), its per-event fields, and whether the metadata was changed in place before. */
const step = fc.record({
  envelope,
  which: fc.constantFrom(0, 1, -1),
  sequenceNumber: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  final: fc.boolean(),
  mutate: fc.option(fc.string({ maxLength: 8 }), { nil: undefined, freq: 5 }),
});

describe("PublishRequestEncoder", () => {
  it("should write every PublishRequest of a run exactly as toBinary does, repeated and changed metadata included", () => {
    fc.assert(
      fc.property(metadata, metadata, fc.array(step, { minLength: 1, maxLength: 12 }), (first, second, steps) => {
        const encoder = new PublishRequestEncoder();
        const shared = [first, second];
        for (const { envelope: event, which, sequenceNumber, final, mutate } of steps) {
          if (which >= 0) {
            const meta = shared[which];
            if (mutate !== undefined) meta.workflowStage = mutate;
            meta.sequenceNumber = sequenceNumber;
            meta.final = final;
            event.correlationMetadata = meta;
          }
          const request = create(PublishRequestSchema, { envelope: event });
          expect(Buffer.from(encoder.encodePublish(request))).toEqual(Buffer.from(toBinary(PublishRequestSchema, request)));
        }
      }),
      { numRuns: 200 },
    );
  });

  it("should write a PublishStreamRequest batch exactly as toBinary does", () => {
    fc.assert(
      fc.property(fc.array(envelope, { maxLength: 10 }), (envelopes) => {
        const request = create(PublishStreamRequestSchema, { envelopes });
        expect(Buffer.from(new PublishRequestEncoder().encodePublishStream(request))).toEqual(Buffer.from(toBinary(PublishStreamRequestSchema, request)));
      }),
      { numRuns: 100 },
    );
  });

  it("should keep unknown fields of the envelope and of its metadata where toBinary writes them", () => {
    fc.assert(
      fc.property(envelope, metadata, (event, meta) => {
        const withUnknown = clone(EventEnvelopeSchema, event);
        withUnknown.$unknown = [{ no: 99, wireType: 0, data: new Uint8Array([1]) }];
        withUnknown.correlationMetadata = clone(CorrelationMetadataSchema, meta);
        withUnknown.correlationMetadata.$unknown = [{ no: 98, wireType: 0, data: new Uint8Array([2]) }];
        const request = create(PublishRequestSchema, { envelope: withUnknown });
        expect(Buffer.from(new PublishRequestEncoder().encodePublish(request))).toEqual(Buffer.from(toBinary(PublishRequestSchema, request)));
      }),
      { numRuns: 100 },
    );
  });

  it("should answer toBinary's error for a value of the wrong type", () => {
    const request = create(PublishRequestSchema, { envelope: { topic: "events.a" } });
    (request.envelope as unknown as Record<string, unknown>).publisherProcessId = -1;
    expect(() => new PublishRequestEncoder().encodePublish(request)).toThrow(/publisher_process_id/);
  });
});
