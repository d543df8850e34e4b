import { create, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type Timestamp, TimestampSchema } from "@bufbuild/protobuf/wkt";
import { CorrelationMetadataSchema } from "../../gen/corrbus/v1/correlation_pb.js";
import { RepeatingMetadataEncoder, encodeMetadata } from "../../src/core/metadata-encoding.js";
import { metadataInit } from "./message-arbitraries.js";

const metadata = metadataInit
  .map((init) => create(CorrelationMetadataSchema, init));

describe("encodeMetadata", () => {
  it("should write exactly what toBinary writes, with and without the per-event fields", () => {
    fc.assert(
      fc.property(metadata, (meta) => {
        expect(Buffer.from(encodeMetadata(meta, true) as Uint8Array)).toEqual(Buffer.from(toBinary(CorrelationMetadataSchema, meta)));
        const shared = create(CorrelationMetadataSchema, { ...meta, sequenceNumber: 0n, final: false });
        expect(Buffer.from(encodeMetadata(meta, false) as Uint8Array)).toEqual(Buffer.from(toBinary(CorrelationMetadataSchema, shared)));
      }),
      { numRuns: 300 },
    );
  });

  it("should leave metadata with unknown fields or a negative start time to toBinary", () => {
    const unknown = create(CorrelationMetadataSchema, { correlationId: "a" });
    unknown.$unknown = [{ no: 99, wireType: 0, data: new Uint8Array([1]) }];
    expect(encodeMetadata(unknown, true)).toBeUndefined();
    const negative = create(CorrelationMetadataSchema, { correlationId: "a", startedAt: { seconds: -1n, nanos: 0 } });
    expect(encodeMetadata(negative, true)).toBeUndefined();
  });
});

describe("RepeatingMetadataEncoder", () => {
  // One event's change to the metadata it repeats: a new sequence number or final flag, or an in-place edit of a shared field.
  const change = fc.oneof(
    fc.record({ kind: fc.constant("next" as const), sequenceNumber: fc.bigInt({ min: 0n, max: 2n ** 53n - 1n }), final: fc.boolean() }),
    fc.record({ kind: fc.constant("tag" as const), key: fc.constantFrom("a", "b"), value: fc.constantFrom("1", "2") }),
    fc.record({ kind: fc.constant("stage" as const), stage: fc.constantFrom("scan", "") }),
    fc.record({ kind: fc.constant("nanos" as const), nanos: fc.constantFrom(0, 7) }),
    fc.record({ kind: fc.constant("other" as const), init: metadataInit }),
  );

  it("should write what toBinary writes for each event of a run, however the metadata changed in between", () => {
    fc.assert(
      fc.property(metadataInit, fc.array(change, { maxLength: 12 }), (init, changes) => {
        const encoder = new RepeatingMetadataEncoder();
        let meta = create(CorrelationMetadataSchema, init);
        expect(Buffer.from(encoder.encode(meta) as Uint8Array)).toEqual(Buffer.from(toBinary(CorrelationMetadataSchema, meta)));
        for (const step of changes) {
          // The client's copy per event shares the tags and the timestamp with the caller's object.
          if (step.kind === "next") meta = { ...meta, sequenceNumber: step.sequenceNumber, final: step.final };
          if (step.kind === "tag") meta.correlationTags[step.key] = step.value;
          if (step.kind === "stage") meta.workflowStage = step.stage;
          if (step.kind === "nanos") meta.startedAt = { ...(meta.startedAt ?? create(TimestampSchema)), nanos: step.nanos };
          if (step.kind === "other") meta = create(CorrelationMetadataSchema, step.init);
          expect(Buffer.from(encoder.encode(meta) as Uint8Array)).toEqual(Buffer.from(toBinary(CorrelationMetadataSchema, meta)));
        }
      }),
      { numRuns: 300 },
    );
  });

  it("should not remember a timestamp changed in place", () => {
    const encoder = new RepeatingMetadataEncoder();
    const meta = create(CorrelationMetadataSchema, { correlationId: "a", startedAt: { seconds: 5n, nanos: 1 } });
    encoder.encode(meta);
    (meta.startedAt as Timestamp).seconds = 6n;
    expect(Buffer.from(encoder.encode(meta) as Uint8Array)).toEqual(Buffer.from(toBinary(CorrelationMetadataSchema, meta)));
  });
});
