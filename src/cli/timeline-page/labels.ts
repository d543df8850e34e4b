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

/** A pid and whether the kernel vouched for it. */
function pidText(pid: number, verified: boolean): string {
  return "pid " + pid + (verified ? " (kernel-verified)" : " (stated)");
}

/** A lane's source_process in full and each of its pids, and whether the kernel vouched for each. */
export function laneTitle(lane: Lane): string {
  const pids = [...lane.pids].map((pid) => pidText(pid, lane.verifiedPids.has(pid)));
  return (lane.name || "(no source_process)") + "\n" + pids.join("\n");
}

/** What a lane's label says of its processes: the pid when there is one, else how many. */
export function lanePids(lane: Lane): string {
  if (lane.pids.size !== 1) return lane.pids.size + " pids";
  const pid = lane.pids.values().next().value as number;
  return "pid " + pid + (lane.verifiedPids.has(pid) ? " ✓" : "");
}
