import { InvalidInputError } from "../validation/invalid-input-error.js";

/** Limits of topic syntax (docs/reference.md). */
export const topicLimits = {
  /** Longest topic or pattern in bytes. */
  maxLength: 256,
  /** Most segments in a topic or pattern. */
  maxSegments: 16,
} as const;

const segmentSyntax = /^[a-z0-9_-]+$/;
const firstSegments = new Set(["events", "control"]);

/**
 * A parsed subscription pattern: literal segments, `+` for exactly one
 * segment, and an optional trailing `#` for zero or more segments.
 */
export interface TopicPattern {
  /** The pattern as given. */
  readonly text: string;
  /** Segments before a trailing `#`; `+` stays as `+`. */
  readonly segments: readonly string[];
  /** True when the pattern ended in `#`. */
  readonly multiLevel: boolean;
}

/**
 * Checks a concrete topic: dot-separated segments of [a-z0-9_-], first segment
 * `events` or `control`. Throws InvalidInputError naming the bad segment.
 */
export function validateTopic(topic: string, field = "topic"): void {
  if (isPlainValidTopic(topic)) return;
  checkLength(topic, field);
  const segments = topic.split(".");
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i];
    if (!segmentSyntax.test(segment)) {
      throw new InvalidInputError(field, `segment ${i + 1} "${segment}" of "${topic}" ${describeBadSegment(segment)}`);
    }
  }
  if (!firstSegments.has(segments[0])) {
    throw new InvalidInputError(field, `first segment "${segments[0]}" of "${topic}" must be "events" or "control"`);
  }
}

/**
 * True for a task topic: what `control.#` matches, the bare `control` included
 * (a prefix check for "control." let that one past the control ACL).
 */
export function isControlTopic(topic: string): boolean {
  return topic.startsWith("control") && (topic.length === 7 || topic.charCodeAt(7) === 46);
}

/**
 * The common case in one pass over the characters (every event's topic is
 * checked on the publish path): true only for a valid topic. Anything else
 * goes through the checks that name what is wrong.
 */
function isPlainValidTopic(topic: string): boolean {
  // Valid topics are ASCII, so characters are bytes.
  if (topic.length === 0 || topic.length > topicLimits.maxLength) return false;
  if (!topic.startsWith("events.") && !topic.startsWith("control.")) return false;
  let segments = 1;
  let segmentLength = 0;
  for (let i = 0; i < topic.length; i++) {
    const code = topic.charCodeAt(i);
    if (code === 46) {
      if (segmentLength === 0) return false;
      segments++;
      segmentLength = 0;
    } else if ((code >= 97 && code <= 122) || (code >= 48 && code <= 57) || code === 95 || code === 45) {
      segmentLength++;
    } else {
      return false;
    }
  }
  return segmentLength > 0 && segments <= topicLimits.maxSegments;
}

/** Parses and checks a pattern; throws InvalidInputError naming the bad segment. */
export function parseTopicPattern(text: string, field = "pattern"): TopicPattern {
  checkLength(text, field);
  const segments = text.split(".");
  let multiLevel = false;
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i];
    if (segment === "#") {
      if (i !== segments.length - 1) {
        throw new InvalidInputError(field, `segment ${i + 1} "#" of "${text}" must be the last segment`);
      }
      multiLevel = true;
    } else if (segment !== "+" && !segmentSyntax.test(segment)) {
      throw new InvalidInputError(field, `segment ${i + 1} "${segment}" of "${text}" ${describeBadSegment(segment)} (or be "+" or a final "#")`);
    }
  }
  const first = segments[0];
  if (first !== "+" && first !== "#" && !firstSegments.has(first)) {
    throw new InvalidInputError(field, `first segment "${first}" of "${text}" must be "events", "control", "+" or "#"`);
  }
  return { text, segments: multiLevel ? segments.slice(0, -1) : segments, multiLevel };
}

/** True when `topic` (already valid) matches `pattern`. */
export function topicMatches(pattern: TopicPattern, topic: string): boolean {
  const { segments, multiLevel } = pattern;
  let start = 0;
  for (let i = 0; i < segments.length; i++) {
    if (start > topic.length) return false;
    let end = topic.indexOf(".", start);
    if (end < 0) end = topic.length;
    const expected = segments[i];
    if (expected !== "+" && (end - start !== expected.length || !topic.startsWith(expected, start))) {
      return false;
    }
    start = end + 1;
  }
  // All pattern segments consumed: the topic must be consumed too, unless `#`.
  return multiLevel || start > topic.length;
}

function checkLength(text: string, field: string): void {
  if (text.length === 0) {
    throw new InvalidInputError(field, "must not be empty");
  }
  const bytes = Buffer.byteLength(text);
  if (bytes > topicLimits.maxLength) {
    throw new InvalidInputError(field, `${bytes} bytes exceeds the limit of ${topicLimits.maxLength}`);
  }
  let segments = 1;
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 46) segments++;
  if (segments > topicLimits.maxSegments) {
    throw new InvalidInputError(field, `${segments} segments exceeds the limit of ${topicLimits.maxSegments}`);
  }
}

function describeBadSegment(segment: string): string {
  return segment.length === 0 ? "is empty" : "must match [a-z0-9_-]+";
}
