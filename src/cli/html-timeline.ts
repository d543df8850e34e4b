import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { clone, toJson } from "@bufbuild/protobuf";
import { type GetTimelineResponse, GetTimelineResponseSchema } from "../../gen/corrbus/v1/service_pb.js";

/** Options of {@link renderTimelineHtml}. */
export interface TimelineHtmlOptions {
  /** The page title. Default: "corrbus timeline <root correlation id>". */
  title?: string;
}

/**
 * Bytes of each payload kept in the page. The page previews the first 512
 * bytes; one more tells the preview that the payload went on. Keeping whole
 * payloads (up to 1 MiB each, thousands of events) would make the file huge
 * for nothing an analyst sees.
 */
const keptPayloadBytes = 513;

/**
 * The page's script and style sheet, which npm run build compiles from src/cli/timeline-page/ and writes
 * (scripts/build-timeline-page.mjs) next to this module once compiled. Run from its TypeScript source, as the
 * tests do, this module finds them in dist/ all the same.
 */
const pageAssetUrl = new URL(import.meta.url.includes("/dist/src/cli/") ? "./timeline-page.json" : "../../dist/src/cli/timeline-page.json", import.meta.url);

/** The page's inline script and style, and their CSP source expressions. */
interface TimelinePage {
  script: string;
  style: string;
  scriptHash: string;
  styleHash: string;
}

let timelinePage: TimelinePage | undefined;

/** The page's script and style, read once. */
function loadTimelinePage(): TimelinePage {
  if (timelinePage !== undefined) return timelinePage;
  const file = fileURLToPath(pageAssetUrl);
  let asset: { script?: unknown; style?: unknown };
  try {
    asset = JSON.parse(readFileSync(file, "utf8")) as typeof asset;
  } catch (error) {
    throw new Error(`the HTML timeline's script and style are missing or unreadable at ${file}: npm run build writes them`, { cause: error });
  }
  const { script, style } = asset;
  if (typeof script !== "string" || typeof style !== "string") throw new Error(`${file} holds no script and style: npm run build writes them`);
  timelinePage = { script, style, scriptHash: sha256(script), styleHash: sha256(style) };
  return timelinePage;
}

/**
 * One self-contained HTML document showing a workflow on a time axis: a lane
 * per source_process (its pids in the label), each correlation's stages as
 * bars, events as marks, parent→child links, orphans and sequence gaps
 * flagged, a list of the events in time order, and a details panel for the
 * event, row or stage clicked.
 *
 * The page loads nothing: style and script are inline, pinned by hash in a
 * Content-Security-Policy that also forbids every fetch, and the data sits in
 * a JSON block that the script reads (the script is src/cli/timeline-page/,
 * joined into one by npm run build). Event payloads and tags come from any
 * publisher, so the data is escaped for its script block and the page inserts
 * every string as text, never as markup.
 */
export function renderTimelineHtml(timeline: GetTimelineResponse, options: TimelineHtmlOptions = {}): string {
  const page = loadTimelinePage();
  const title = options.title ?? `corrbus timeline ${rootIdOf(timeline)}`.trim();
  const data = {
    title,
    generatedAt: new Date().toISOString(),
    payloadSizes: Object.fromEntries(timeline.events.map((event) => [event.eventId.toString(), event.payload.length])),
    timeline: toJson(GetTimelineResponseSchema, withShortPayloads(timeline)),
  };
  const policy = [
    "default-src 'none'",
    `script-src '${page.scriptHash}'`,
    `style-src '${page.styleHash}'`,
    "img-src data:",
    "base-uri 'none'",
    "form-action 'none'",
  ].join("; ");
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(policy)}">
<meta name="generator" content="corrbus timeline --html">
<link rel="icon" href="data:,">
<title>${escapeHtml(title)}</title>
<style>${page.style}</style>
</head>
<body>
<noscript>This page draws the timeline with JavaScript; enable it to see the chart.</noscript>
<script type="application/json" id="corrbus-data">${scriptSafeJson(data)}</script>
<script>${page.script}</script>
</body>
</html>
`;
}

/** The workflow's root id: the depth-0 correlation's, else any event's stated root. */
function rootIdOf(timeline: GetTimelineResponse): string {
  const root = timeline.correlations.find((state) => state.depth === 0) ?? timeline.correlations[0];
  return root?.rootCorrelationId ?? timeline.events[0]?.correlationMetadata?.rootCorrelationId ?? "";
}

/** A copy whose payloads are cut to what the preview shows; the caller's message stays whole. */
function withShortPayloads(timeline: GetTimelineResponse): GetTimelineResponse {
  if (timeline.events.every((event) => event.payload.length <= keptPayloadBytes)) return timeline;
  const copy = clone(GetTimelineResponseSchema, timeline);
  for (const event of copy.events) event.payload = event.payload.subarray(0, keptPayloadBytes);
  return copy;
}

/**
 * JSON that cannot end its <script> block or open a comment there: every <, >
 * and & becomes a \u escape (still the same JSON string), and so do U+2028 and
 * U+2029 for old parsers.
 */
export function scriptSafeJson(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

/** A CSP source expression for an inline block. */
function sha256(text: string): string {
  return `sha256-${createHash("sha256").update(text, "utf8").digest("base64")}`;
}
