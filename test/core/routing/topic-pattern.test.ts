import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InvalidInputError } from "../../../src/core/validation/invalid-input-error.js";
import { parseTopicPattern, topicLimits, topicMatches, validateTopic } from "../../../src/core/routing/topic-pattern.js";
import { expectInvalidInput } from "../core-fixtures.js";

describe("topic-pattern", () => {
  describe("topicMatches", () => {
    const topics = [
      "events",
      "events.process",
      "events.process.started",
      "events.process.started.child",
      "events.network.started",
      "events.file",
      "control",
      "control.scan",
      "control.scan.process",
    ];
    // Pattern → the topics above it matches; every other topic must not match.
    const table: Record<string, string[]> = {
      events: ["events"],
      "events.process": ["events.process"],
      "events.process.started": ["events.process.started"],
      "events.+": ["events.process", "events.file"],
      "events.+.started": ["events.process.started", "events.network.started"],
      "events.+.+": ["events.process.started", "events.network.started"],
      "+": ["events", "control"],
      "+.scan": ["control.scan"],
      "+.+.started": ["events.process.started", "events.network.started"],
      "events.#": ["events", "events.process", "events.process.started", "events.process.started.child", "events.network.started", "events.file"],
      "events.process.#": ["events.process", "events.process.started", "events.process.started.child"],
      "events.+.#": ["events.process", "events.process.started", "events.process.started.child", "events.network.started", "events.file"],
      "control.#": ["control", "control.scan", "control.scan.process"],
      "#": topics,
      "+.#": topics,
      "+.+.#": topics.filter((topic) => topic.includes(".")),
      "events.proc": [],
      "events.process.started.child.more": [],
    };

    for (const [pattern, expected] of Object.entries(table)) {
      describe(`pattern "${pattern}"`, () => {
        const parsed = parseTopicPattern(pattern);
        for (const topic of topics) {
          const matches = expected.includes(topic);
          it(`should ${matches ? "" : "not "}match "${topic}"`, () => {
            expect(topicMatches(parsed, topic)).toBe(matches);
          });
        }
      });
    }

    it("should agree with a segment-by-segment reference matcher on random topics and patterns", () => {
      const segment = fc.constantFrom("events", "control", "a", "b", "ab", "a-b", "x_1");
      const topicArb = fc.tuple(fc.constantFrom("events", "control"), fc.array(segment, { maxLength: 5 })).map(([first, rest]) => [first, ...rest].join("."));
      const patternArb = fc
        .tuple(fc.array(fc.oneof(segment, fc.constant("+")), { minLength: 1, maxLength: 5 }), fc.boolean())
        .map(([segments, hash]) => (hash ? [...segments, "#"] : segments).join("."))
        .filter((text) => ["events", "control", "+"].includes(text.split(".")[0]));
      const patternOnlyHash = fc.constant("#");
      fc.assert(
        fc.property(fc.oneof(patternArb, patternOnlyHash), topicArb, (pattern, topic) => {
          expect(topicMatches(parseTopicPattern(pattern), topic)).toBe(referenceMatch(pattern.split("."), topic.split(".")));
        }),
        { numRuns: 300 },
      );
    });
  });

  describe("validateTopic", () => {
    it("should accept topics of [a-z0-9_-] segments under events or control", () => {
      for (const topic of ["events", "control", "events.process.started", "events.a_b-c.9", "control.scan_1"]) {
        expect(() => validateTopic(topic)).not.toThrow();
      }
    });

    const refusals: [string, string][] = [
      ["", "must not be empty"],
      ["events..started", 'segment 2 "" of "events..started" is empty'],
      ["events.process.", 'segment 3 "" of "events.process." is empty'],
      [".events", 'segment 1 "" of ".events" is empty'],
      ["events.Process", 'segment 2 "Process" of "events.Process" must match [a-z0-9_-]+'],
      ["events.proc ess", 'segment 2 "proc ess" of "events.proc ess" must match [a-z0-9_-]+'],
      ["events.+", 'segment 2 "+" of "events.+" must match [a-z0-9_-]+'],
      ["events.#", 'segment 2 "#" of "events.#" must match [a-z0-9_-]+'],
      ["events.é", 'segment 2 "é" of "events.é" must match [a-z0-9_-]+'],
      ["metrics.cpu", 'first segment "metrics" of "metrics.cpu" must be "events" or "control"'],
      ["event", 'first segment "event" of "event" must be "events" or "control"'],
    ];
    for (const [topic, description] of refusals) {
      it(`should refuse "${topic}" naming the offending segment`, () => {
        const error = expectInvalidInput(() => validateTopic(topic));
        expect(error.field).toBe("topic");
        expect(error.description).toBe(description);
        expect(error.message).toBe(`topic: ${description}`);
      });
    }

    it("should accept exactly the topics the grammar allows, on random near-valid strings", () => {
      const grammar = /^(events|control)(\.[a-z0-9_-]+)*$/;
      const piece = fc.constantFrom("events", "control", ".", "a", "z", "0", "9", "_", "-", "A", "+", "#", " ", "é", "", "..");
      fc.assert(
        fc.property(fc.array(piece, { maxLength: 40 }), (pieces) => {
          const topic = pieces.join("");
          const valid = grammar.test(topic) && topic.length <= topicLimits.maxLength && topic.split(".").length <= topicLimits.maxSegments;
          if (valid) expect(() => validateTopic(topic)).not.toThrow();
          else expectInvalidInput(() => validateTopic(topic));
        }),
        { numRuns: 2000 },
      );
    });

    it("should name the field it is given", () => {
      const error = expectInvalidInput(() => validateTopic("events..x", "envelopes[2].topic"));
      expect(error.field).toBe("envelopes[2].topic");
    });

    describe("limits", () => {
      it("should accept a topic of exactly the length limit", () => {
        const topic = `events.${"a".repeat(topicLimits.maxLength - "events.".length)}`;
        expect(Buffer.byteLength(topic)).toBe(topicLimits.maxLength);
        expect(() => validateTopic(topic)).not.toThrow();
      });

      it("should refuse a topic one byte over the length limit", () => {
        const topic = `events.${"a".repeat(topicLimits.maxLength - "events.".length + 1)}`;
        const error = expectInvalidInput(() => validateTopic(topic));
        expect(error.field).toBe("topic");
        expect(error.description).toBe(`257 bytes exceeds the limit of ${topicLimits.maxLength}`);
      });

      it("should count the length in bytes, not characters", () => {
        // 130 two-byte characters: 260 bytes, 130 characters.
        const error = expectInvalidInput(() => validateTopic(`events.${"é".repeat(130)}`));
        expect(error.description).toBe(`267 bytes exceeds the limit of ${topicLimits.maxLength}`);
      });

      it("should accept exactly the segment limit and refuse one more", () => {
        const sixteen = ["events", ...Array.from({ length: 15 }, () => "a")].join(".");
        expect(() => validateTopic(sixteen)).not.toThrow();
        const error = expectInvalidInput(() => validateTopic(`${sixteen}.a`));
        expect(error.description).toBe(`17 segments exceeds the limit of ${topicLimits.maxSegments}`);
      });
    });
  });

  describe("parseTopicPattern", () => {
    it("should keep the segments before a trailing # and flag it", () => {
      expect(parseTopicPattern("events.+.#")).toEqual({ text: "events.+.#", segments: ["events", "+"], multiLevel: true });
      expect(parseTopicPattern("#")).toEqual({ text: "#", segments: [], multiLevel: true });
      expect(parseTopicPattern("control.scan")).toEqual({ text: "control.scan", segments: ["control", "scan"], multiLevel: false });
    });

    const refusals: [string, string][] = [
      ["", "must not be empty"],
      ["events.#.started", 'segment 2 "#" of "events.#.started" must be the last segment'],
      ["#.events", 'segment 1 "#" of "#.events" must be the last segment'],
      ["events.#.#", 'segment 2 "#" of "events.#.#" must be the last segment'],
      ["events.a#", 'segment 2 "a#" of "events.a#" must match [a-z0-9_-]+ (or be "+" or a final "#")'],
      ["events.++", 'segment 2 "++" of "events.++" must match [a-z0-9_-]+ (or be "+" or a final "#")'],
      ["events..+", 'segment 2 "" of "events..+" is empty (or be "+" or a final "#")'],
      ["events.*", 'segment 2 "*" of "events.*" must match [a-z0-9_-]+ (or be "+" or a final "#")'],
      ["metrics.#", 'first segment "metrics" of "metrics.#" must be "events", "control", "+" or "#"'],
    ];
    for (const [pattern, description] of refusals) {
      it(`should refuse "${pattern}" naming the offending segment`, () => {
        const error = expectInvalidInput(() => parseTopicPattern(pattern, "patterns[0]"));
        expect(error).toBeInstanceOf(InvalidInputError);
        expect(error.field).toBe("patterns[0]");
        expect(error.description).toBe(description);
      });
    }

    it("should apply the length and segment limits to patterns", () => {
      expect(expectInvalidInput(() => parseTopicPattern(`events.${"+.".repeat(15)}#`)).description).toBe(
        `17 segments exceeds the limit of ${topicLimits.maxSegments}`,
      );
      expect(expectInvalidInput(() => parseTopicPattern(`events.${"a".repeat(300)}`)).description).toBe(
        `307 bytes exceeds the limit of ${topicLimits.maxLength}`,
      );
    });
  });
});

/** Straightforward recursive matcher: `+` one segment, a final `#` zero or more. */
function referenceMatch(pattern: string[], topic: string[]): boolean {
  if (pattern.length === 0) return topic.length === 0;
  const [head, ...rest] = pattern;
  if (head === "#") return true;
  if (topic.length === 0) return false;
  if (head !== "+" && head !== topic[0]) return false;
  return referenceMatch(rest, topic.slice(1));
}
