import type { Lane } from "./timeline-model.js";

/** The first characters of a correlation id: enough to tell the workflow's steps apart on screen. */
export function shortId(id: string | undefined): string {
  return id ? id.slice(0, 8) : "(none)";
}

/** A CompletionStatus name without its prefix, in lower case. */
export function statusName(status: string | undefined): string {
  return String(status || "COMPLETION_STATUS_UNSPECIFIED")
    .replace("COMPLETION_STATUS_", "")
    .toLowerCase();
}

/** `text` cut to `max` characters, the cut marked. */
export function ellipsis(text: string, max: number): string {
  return text.length > max ? text.slice(0, max - 1) + "…" : text;
}

/** A lane's publisher in full, and whether the kernel vouched for its pid. */
export function laneTitle(lane: Lane): string {
  return (lane.name || "(no source_process)") + "  pid " + lane.pid + (lane.verified ? " (kernel-verified)" : " (stated)");
}
