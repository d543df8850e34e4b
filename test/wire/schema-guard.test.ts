// The schema guard: every field of every message the wire layer touches, enumerated from the generated
// descriptors, must come through it, or fail here naming the field. A field added to proto/ is checked the day
// `buf generate` runs; a field the wire layer does not handle makes this test name it.
import { clone, create, type DescField, type DescMessage, equals, fromBinary, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CorrelationMetadataSchema } from "../../gen/corrbus/v1/correlation_pb.js";
import { EventEnvelopeSchema } from "../../gen/corrbus/v1/envelope_pb.js";
import { PublishRequestSchema, PublishStreamRequestSchema } from "../../gen/corrbus/v1/service_pb.js";
import { withoutPayload } from "../../src/wire/encoded-events.js";
import { messageEncoder } from "../../src/wire/message-encoder.js";
import { payloadField, stampFields } from "../../src/wire/metadata-fields.js";
import { PublishRequestEncoder } from "../../src/wire/publish-request-encoder.js";
import { PublishedEnvelopeDecoder } from "../../src/wire/published-envelope-decoder.js";
import { SharedMetadataMemo } from "../../src/wire/shared-metadata-memo.js";
import { joinEnvelope, splitForStorage } from "../../src/wire/stored-envelope.js";
import { oneFieldArbitrary } from "./schema-arbitraries.js";

/** A publisher's envelope with one field set, through the client's encoder, the broker's decoder and storage, and back. */
function publishedAndStored(sent: ReturnType<typeof create<typeof EventEnvelopeSchema>>): ReturnType<typeof create<typeof EventEnvelopeSchema>> {
  const client = new PublishRequestEncoder();
  const decoder = new PublishedEnvelopeDecoder();
  // Twice: the second time the client's and the broker's memos of the metadata answer.
  let stored;
  for (let round = 0; round < 2; round++) {
    const request = client.encodePublish(create(PublishRequestSchema, { envelope: sent }));
    const received = decoder.decode(request);
    if (received === undefined) throw new Error("the decoder lost the envelope");
    stored = fromBinary(EventEnvelopeSchema, joinEnvelope(splitForStorage(received)));
  }
  return stored as ReturnType<typeof create<typeof EventEnvelopeSchema>>;
}

function describeField(field: DescField): string {
  return `${field.parent.typeName}.${field.name} (field ${field.number})`;
}

/** Every field of `schema` and of the messages below it, once each. */
function fieldsUnder(schema: DescMessage, seen = new Set<DescMessage>()): DescField[] {
  if (seen.has(schema)) return [];
  seen.add(schema);
  return schema.fields.flatMap((field) => [field, ...(field.message === undefined ? [] : fieldsUnder(field.message, seen))]);
}

describe("the schema guard", () => {
  describe("every field of EventEnvelope a publisher sends", () => {
    for (const field of EventEnvelopeSchema.fields.filter((one) => !stampFields.has(one.number))) {
      it(`should survive publish → broker → storage: ${describeField(field)}`, () => {
        fc.assert(
          fc.property(oneFieldArbitrary(EventEnvelopeSchema, field), (sent) => {
            const stored = publishedAndStored(sent);
            expect(equals(EventEnvelopeSchema, stored, sent), `${describeField(field)} did not survive the wire layer`).toBe(true);
          }),
          { numRuns: 30 },
        );
      });
    }
  });

  describe("every field of CorrelationMetadata", () => {
    for (const field of CorrelationMetadataSchema.fields) {
      it(`should survive publish → broker → storage: ${describeField(field)}`, () => {
        fc.assert(
          fc.property(oneFieldArbitrary(CorrelationMetadataSchema, field), (meta) => {
            const sent = create(EventEnvelopeSchema, { topic: "events.guard", correlationMetadata: meta });
            const stored = publishedAndStored(sent);
            expect(equals(EventEnvelopeSchema, stored, sent), `${describeField(field)} did not survive the wire layer`).toBe(true);
          }),
          { numRuns: 30 },
        );
      });

      it(`should tell metadata apart in the memos when only it differs: ${describeField(field)}`, () => {
        const perEvent =
          field.number === CorrelationMetadataSchema.field.sequenceNumber.number || field.number === CorrelationMetadataSchema.field.final.number;
        fc.assert(
          fc.property(oneFieldArbitrary(CorrelationMetadataSchema, field), (meta) => {
            const memo = new SharedMetadataMemo<boolean>();
            const plain = create(CorrelationMetadataSchema, { correlationId: meta.correlationId });
            memo.set(plain, true);
            // The per-event fields are the only ones a repeat may change.
            expect(memo.get(meta) === true, `the memo ${perEvent ? "missed a repeat differing in" : "ignored"} ${describeField(field)}`).toBe(
              perEvent || equals(CorrelationMetadataSchema, plain, meta),
            );
          }),
          { numRuns: 30 },
        );
      });
    }
  });

  describe("the broker's stamps", () => {
    for (const field of EventEnvelopeSchema.fields.filter((one) => stampFields.has(one.number))) {
      it(`should drop what a publisher sent and keep the broker's own: ${describeField(field)}`, () => {
        fc.assert(
          fc.property(oneFieldArbitrary(EventEnvelopeSchema, field), oneFieldArbitrary(EventEnvelopeSchema, field), (sent, stamped) => {
            const decoder = new PublishedEnvelopeDecoder();
            const received = decoder.decode(toBinary(PublishRequestSchema, create(PublishRequestSchema, { envelope: sent }))) as typeof sent;
            const value = (stamped as unknown as Record<string, unknown>)[field.localName];
            (received as unknown as Record<string, unknown>)[field.localName] = value;
            const stored = fromBinary(EventEnvelopeSchema, joinEnvelope(splitForStorage(received)));
            const expected = clone(EventEnvelopeSchema, sent);
            (expected as unknown as Record<string, unknown>)[field.localName] = value;
            expect(equals(EventEnvelopeSchema, stored, expected), `${describeField(field)}: the publisher's value was kept`).toBe(true);
          }),
          { numRuns: 30 },
        );
      });
    }
  });

  describe("every field the compiled encoder writes", () => {
    for (const schema of [EventEnvelopeSchema, PublishRequestSchema, PublishStreamRequestSchema]) {
      for (const field of fieldsUnder(schema)) {
        it(`should be written as toBinary writes it: ${describeField(field)}`, () => {
          fc.assert(
            fc.property(oneFieldArbitrary(field.parent, field), (message) => {
              expect(Buffer.from(messageEncoder(field.parent).encode(message)), describeField(field)).toEqual(Buffer.from(toBinary(field.parent, message)));
            }),
            { numRuns: 20 },
          );
        });
      }
    }
  });

  it("should leave out only the payload when payloads are omitted", () => {
    fc.assert(
      fc.property(oneFieldArbitrary(EventEnvelopeSchema, EventEnvelopeSchema.fields.find((field) => field.number === payloadField) as DescField), (event) => {
        event.topic = "events.guard";
        const stripped = fromBinary(EventEnvelopeSchema, withoutPayload(toBinary(EventEnvelopeSchema, event)));
        expect(stripped.payload.length).toBe(0);
        expect(stripped.topic).toBe("events.guard");
      }),
      { numRuns: 20 },
    );
  });
});
