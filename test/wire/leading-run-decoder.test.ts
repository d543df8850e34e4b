import { type DescMessage, create, fromBinary, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { EventEnvelopeSchema } from "../../gen/corrbus/v1/envelope_pb.js";
import { FindByTagResponseSchema, GetTimelineResponseSchema, WaitForResultsResponseSchema } from "../../gen/corrbus/v1/service_pb.js";
import { LeadingRunDecoder } from "../../src/wire/leading-run-decoder.js";
import { type LongForm, messageDecoder } from "../../src/wire/message-decoder.js";
import { messageArbitrary } from "./schema-arbitraries.js";

type Value = any;

/** `bytes` cut at `cuts` (offsets, any order, repeats allowed): the chunks an HTTP/2 stream might deliver. */
function chunksOf(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const point of [...points, bytes.length]) {
    if (point > start) chunks.push(Buffer.from(bytes.subarray(start, point)));
    start = point;
  }
  return chunks;
}

/** What the leading-run decoder answers for `chunks`, or the error it gives. */
function decodedInChunks(schema: DescMessage, longs: LongForm, chunks: Buffer[]): { value?: Value; error?: unknown } {
  const decoder = new LeadingRunDecoder(messageDecoder(schema, longs as "number"));
  for (const chunk of chunks) decoder.push(chunk);
  try {
    return { value: decoder.finish() };
  } catch (error) {
    return { error };
  }
}

/** What decoding the joined chunks whole answers, or the error it gives. */
function decodedWhole(schema: DescMessage, longs: LongForm, chunks: Buffer[]): { value?: Value; error?: unknown } {
  try {
    return { value: messageDecoder(schema, longs as "number").decode(Buffer.concat(chunks)) };
  } catch (error) {
    return { error };
  }
}

describe("LeadingRunDecoder", () => {
  for (const schema of [GetTimelineResponseSchema, FindByTagResponseSchema, WaitForResultsResponseSchema] as DescMessage[]) {
    it(`should answer what decoding the whole message answers, however its bytes are cut and its fields ordered: ${schema.typeName}`, () => {
      fc.assert(
        fc.property(
          fc.array(messageArbitrary(schema, 2), { minLength: 1, maxLength: 3 }),
          fc.array(fc.nat(), { maxLength: 12 }),
          fc.constantFrom<LongForm>("bigint", "number"),
          (parts, cuts, longs) => {
            // Messages one after another are one message (fields merged, lists appended): the events need not come first.
            const bytes = Buffer.concat(parts.map((part) => toBinary(schema, part)));
            const chunks = chunksOf(bytes, cuts);
            const whole = decodedWhole(schema, longs, chunks);
            const inChunks = decodedInChunks(schema, longs, chunks);
            if (whole.error !== undefined) expect(inChunks.error).toBeInstanceOf((whole.error as object).constructor);
            else expect(inChunks.value).toStrictEqual(whole.value);
          },
        ),
        { numRuns: 150 },
      );
    });
  }

  it("should decode the events as their chunks arrive, before the message ends", () => {
    const events = Array.from({ length: 5 }, (_, index) => create(EventEnvelopeSchema, { topic: `t.${index}`, eventId: BigInt(index + 1) }));
    const bytes = Buffer.from(toBinary(GetTimelineResponseSchema, create(GetTimelineResponseSchema, { events, truncated: true })));
    const decoder = new LeadingRunDecoder(messageDecoder(GetTimelineResponseSchema));
    const elements = (decoder as unknown as { elements: unknown[] }).elements;
    for (const chunk of chunksOf(bytes, [7, 20, 33])) decoder.push(chunk);
    expect(elements.length).toBe(5);
    expect(decoder.finish()).toStrictEqual(fromBinary(GetTimelineResponseSchema, bytes));
  });

  it("should leave an answer to fromBinary, as a whole, when an event in it is not in the usual encoding", () => {
    const event = Buffer.from(toBinary(EventEnvelopeSchema, create(EventEnvelopeSchema, { topic: "a" })));
    // event_id (10) as a length-delimited field: fromBinary's reader takes it, the compiled decoder leaves it.
    const odd = Buffer.concat([event, Buffer.from([(10 << 3) | 2, 1, 5])]);
    const entry = (bytes: Buffer) => Buffer.concat([Buffer.from([(1 << 3) | 2, bytes.length]), bytes]);
    const bytes = Buffer.concat([entry(event), entry(odd), entry(event)]);
    const chunks = chunksOf(bytes, [3, 11]);
    expect(decodedInChunks(GetTimelineResponseSchema, "bigint", chunks)).toStrictEqual(decodedWhole(GetTimelineResponseSchema, "bigint", chunks));
  });

  it("should give the whole decode's error for an answer cut short inside an event", () => {
    const bytes = Buffer.from(
      toBinary(GetTimelineResponseSchema, create(GetTimelineResponseSchema, { events: [create(EventEnvelopeSchema, { topic: "abc" })] })),
    );
    const cut = [bytes.subarray(0, 4), bytes.subarray(4, bytes.length - 1)];
    expect(decodedInChunks(GetTimelineResponseSchema, "bigint", cut).error).toBeInstanceOf(Error);
    expect(decodedWhole(GetTimelineResponseSchema, "bigint", cut).error).toBeInstanceOf(Error);
  });
});
