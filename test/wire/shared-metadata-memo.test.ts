import { clone, create, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CorrelationMetadataSchema } from "../../gen/corrbus/v1/correlation_pb.js";
import { SharedMetadataMemo, markDecodedFrom } from "../../src/wire/shared-metadata-memo.js";
import { messageArbitrary } from "./schema-arbitraries.js";

// Few distinct values, so that equal metadata comes up often.
const pick = <T>(...values: T[]) => fc.constantFrom(...values);
const metadata = fc
  .record({
    correlationId: pick("a", "b"),
    parentCorrelationId: pick<string | undefined>(undefined, "p", ""),
    rootCorrelationId: pick("a", "r"),
    sequenceNumber: fc.bigInt({ min: 0n, max: 5n }),
    workflowStage: pick("", "scan"),
    sourceProcess: pick("x", "y"),
    correlationTags: fc.oneof(
      fc.constant({}),
      fc.constant({ k: "v" }),
      fc.constant({ k: "w" }),
      fc.constant({ k: "v", j: "1" }),
      fc.constant({ j: "1", k: "v" }),
    ),
    startedAt: pick(undefined, { seconds: 1n, nanos: 0 }, { seconds: 1n, nanos: 5 }),
    final: fc.boolean(),
  })
  .map((init) => create(CorrelationMetadataSchema, init));

describe("SharedMetadataMemo", () => {
  it("should call metadata of one correlation the same exactly when their shared fields encode alike", () => {
    fc.assert(
      fc.property(metadata, metadata, (a, b) => {
        const memo = new SharedMetadataMemo<number>();
        memo.set(a, 1);
        const same = a.correlationId === b.correlationId && Buffer.from(sharedBytes(a)).equals(sharedBytes(b));
        expect(memo.get(b) === 1).toBe(same);
      }),
      { numRuns: 3000 },
    );
  });

  it("should tell apart metadata that differ in any field of the schema but the per-event ones (fields from the descriptors)", () => {
    fc.assert(
      fc.property(messageArbitrary(CorrelationMetadataSchema), messageArbitrary(CorrelationMetadataSchema), fc.boolean(), (a, other, unknown) => {
        const b = clone(CorrelationMetadataSchema, other);
        b.correlationId = a.correlationId;
        if (unknown) b.$unknown = [{ no: 99, wireType: 0, data: new Uint8Array([1]) }];
        const memo = new SharedMetadataMemo<number>();
        memo.set(a, 1);
        expect(memo.get(b) === 1).toBe(Buffer.from(sharedBytes(a)).equals(sharedBytes(b)));
      }),
      { numRuns: 1000 },
    );
  });

  it("should answer what was remembered only for metadata equal to what its correlation last had", () => {
    const memo = new SharedMetadataMemo<string>();
    const first = create(CorrelationMetadataSchema, { correlationId: "a", rootCorrelationId: "a", correlationTags: { k: "v" }, sequenceNumber: 1n });
    memo.set(first, "remembered");
    expect(memo.get(create(CorrelationMetadataSchema, { ...first, sequenceNumber: 2n, final: true }))).toBe("remembered");
    expect(memo.get(create(CorrelationMetadataSchema, { ...first, correlationTags: { k: "other" } }))).toBeUndefined();
    const unknown = create(CorrelationMetadataSchema, { ...first });
    unknown.$unknown = [{ no: 99, wireType: 0, data: new Uint8Array([1]) }];
    expect(memo.get(unknown)).toBeUndefined();
    // Unknown fields in started_at are not in the snapshot either: never remembered, never matched.
    const odd = create(CorrelationMetadataSchema, { ...first, correlationId: "b", startedAt: timestampFromMs(1000) });
    (odd.startedAt as { $unknown?: unknown }).$unknown = [{ no: 9, wireType: 0, data: new Uint8Array([1]) }];
    memo.set(odd, "odd");
    expect(memo.get(create(CorrelationMetadataSchema, { ...odd, startedAt: timestampFromMs(1000) }))).toBeUndefined();
  });

  it("should know copies of metadata marked with one origin equal without comparing, and compare when the origin differs", () => {
    const origin = {};
    const decoded = markDecodedFrom(create(CorrelationMetadataSchema, { correlationId: "a", sourceProcess: "x", correlationTags: { k: "v" } }), origin);
    const memo = new SharedMetadataMemo<number>();
    memo.set(decoded, 1);
    // A decoder's repeat: a copy with its own sequence number, carrying the mark.
    expect(memo.get({ ...decoded, sequenceNumber: 7n })).toBe(1);
    // Another origin (another decoder) is compared field by field: equal answers, different misses.
    expect(memo.get(markDecodedFrom({ ...decoded, correlationTags: { k: "v" } }, {}))).toBe(1);
    expect(memo.get(markDecodedFrom({ ...decoded, sourceProcess: "y" }, {}))).toBeUndefined();
    // Unmarked metadata is compared too.
    expect(memo.get(create(CorrelationMetadataSchema, { correlationId: "a", sourceProcess: "y" }))).toBeUndefined();
  });

  it("should miss after the remembered metadata was changed in place", () => {
    const memo = new SharedMetadataMemo<string>();
    const meta = create(CorrelationMetadataSchema, { correlationId: "a", correlationTags: { k: "v" }, startedAt: { seconds: 1n, nanos: 0 } });
    memo.set(meta, "remembered");
    expect(memo.get(meta)).toBe("remembered");
    meta.correlationTags.j = "new";
    expect(memo.get(meta)).toBeUndefined();
    memo.set(meta, "again");
    (meta.startedAt as { nanos: number }).nanos = 9;
    expect(memo.get(meta)).toBeUndefined();
  });

  it("should keep interleaved correlations apart, and at most `capacity` of them, the oldest dropped first", () => {
    const memo = new SharedMetadataMemo<string>(3);
    const meta = (id: string, stage = "scan") => create(CorrelationMetadataSchema, { correlationId: id, rootCorrelationId: id, workflowStage: stage });
    memo.set(meta("a"), "A");
    memo.set(meta("b"), "B");
    expect([memo.get(meta("a")), memo.get(meta("b"))]).toEqual(["A", "B"]);
    // A correlation's new metadata replaces its entry.
    memo.set(meta("a", "collect"), "A2");
    expect([memo.get(meta("a")), memo.get(meta("a", "collect")), memo.size]).toEqual([undefined, "A2", 2]);
    memo.set(meta("c"), "C");
    memo.set(meta("d"), "D");
    expect(memo.size).toBe(3);
    expect([memo.get(meta("b")), memo.get(meta("a", "collect")), memo.get(meta("c")), memo.get(meta("d"))]).toEqual([undefined, "A2", "C", "D"]);
  });

  it("should never answer for metadata it was not given, however many correlations come and go", () => {
    fc.assert(
      fc.property(fc.array(metadata, { maxLength: 40 }), fc.integer({ min: 1, max: 4 }), (sequence, capacity) => {
        const memo = new SharedMetadataMemo<string>(capacity);
        const given: typeof sequence = [];
        for (const meta of sequence) {
          const answer = memo.get(meta);
          // A hit names metadata set earlier whose shared fields equal these.
          if (answer !== undefined) expect(Buffer.from(sharedBytes(given[Number(answer)])).equals(sharedBytes(meta))).toBe(true);
          memo.set(meta, String(given.length));
          given.push(meta);
          expect(memo.size).toBeLessThanOrEqual(capacity);
        }
      }),
      { numRuns: 1000 },
    );
  });
});

/** The metadata's encoding without its per-event fields: what decides whether two metadata share a template. */
function sharedBytes(meta: ReturnType<typeof create<typeof CorrelationMetadataSchema>>): Uint8Array {
  const shared = clone(CorrelationMetadataSchema, meta);
  shared.sequenceNumber = 0n;
  shared.final = false;
  return toBinary(CorrelationMetadataSchema, shared);
}
