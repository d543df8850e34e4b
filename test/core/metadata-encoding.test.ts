import { create, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CorrelationMetadataSchema } from "../../gen/corrbus/v1/correlation_pb.js";
import { encodeMetadata } from "../../src/core/metadata-encoding.js";
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
