import { type Timestamp, timestampDate, timestampMs } from "@bufbuild/protobuf/wkt";
import type { EventEnvelope } from "../../gen/corrbus/v1/envelope_pb.js";

/** A broker time as ISO 8601 UTC with milliseconds; "-" when unset. */
export function formatTime(timestamp: Timestamp | undefined): string {
  return timestamp === undefined ? "-" : timestampDate(timestamp).toISOString();
}

/** Milliseconds of a timestamp; undefined stays undefined. */
export function optionalMs(timestamp: Timestamp | undefined): number | undefined {
  return timestamp === undefined ? undefined : timestampMs(timestamp);
}

/** 850ms, 1.204s, 2m03s, 1h02m: short and exact enough to compare stages. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(3).replace(/\.?0+$/, "")}s`;
  const seconds = Math.floor(ms / 1000);
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, "0")}s`;
  return `${Math.floor(seconds / 3600)}h${String(Math.floor(seconds / 60) % 60).padStart(2, "0")}m`;
}

/** 512 B, 45.2 KiB, 1.5 GiB. */
export function formatBytes(bytes: bigint | number): string {
  let value = Number(bytes);
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** An enum value's name for people: DELIVERY_STATE_PENDING's "PENDING" → "pending". */
export function enumText(names: Record<number, string>, value: number): string {
  return (names[value] ?? String(value)).toLowerCase().replace(/_/g, " ");
}

/**
 * The start of a payload on one line: text as it is (control characters
 * escaped), binary as its size. Empty payloads (omitted or none) show "-".
 */
export function payloadPreview(payload: Uint8Array, max = 60): string {
  if (payload.length === 0) return "-";
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(payload);
  } catch {
    return `<${payload.length} bytes>`;
  }
  const line = text.replace(/[\u0000-\u001f\u007f]/g, (char) => JSON.stringify(char).slice(1, -1));
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** Column names of eventRow. */
export const eventHeaders = ["EVENT_ID", "RECEIVED", "TOPIC", "SOURCE", "STAGE", "FINAL", "CORRELATION", "PAYLOAD"];

/** One event as table cells, in eventHeaders order. */
export function eventRow(event: EventEnvelope): string[] {
  const meta = event.correlationMetadata;
  return [
    String(event.eventId),
    formatTime(event.receivedAt),
    event.topic,
    orDash(meta?.sourceProcess),
    orDash(meta?.workflowStage),
    meta?.final ? "final" : "-",
    orDash(meta?.correlationId),
    payloadPreview(event.payload),
  ];
}

/** Unset or empty text shows as "-" so columns stay aligned and greppable. */
export function orDash(text: string | undefined): string {
  return text === undefined || text === "" ? "-" : text;
}
