// fast-check arbitraries of the messages the hand-written encoders cover, shared by their tests.
import fc from "fast-check";

/** ASCII or any graphemes (multi-byte UTF-8), up to 100 characters: both the encoders' short-ASCII loops and their native path. */
export const text = fc.oneof(fc.string({ maxLength: 100 }), fc.string({ unit: "grapheme", maxLength: 100 }));

/** An optional non-negative Timestamp. */
export const timestamp = fc.option(fc.record({ seconds: fc.bigInt({ min: 0n, max: 2n ** 40n }), nanos: fc.integer({ min: 0, max: 999_999_999 }) }), {
  nil: undefined,
});

/** The fields of a CorrelationMetadata (an init for create()). */
export const metadataInit = fc.record({
  correlationId: text,
  parentCorrelationId: fc.option(text, { nil: undefined }),
  rootCorrelationId: text,
  sequenceNumber: fc.bigInt({ min: 0n, max: 2n ** 53n - 1n }),
  workflowStage: text,
  sourceProcess: text,
  correlationTags: fc.dictionary(fc.string({ maxLength: 12 }), fc.string({ maxLength: 30 }), { maxKeys: 6 }),
  startedAt: timestamp,
  final: fc.boolean(),
});
