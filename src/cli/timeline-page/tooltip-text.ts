import { shortId, statusName } from "./labels.js";
import { relativeTime } from "./time-format.js";
import type { TimelineModel } from "./timeline-model.js";

/** The tooltip of a mark, stage bar, row of events without a stage, gap or orphan note of the plot: what it is, in a line or three. */
export function tooltipText(node: Element, model: TimelineModel): string {
  if (node.hasAttribute("data-event-id")) {
    const ev = model.eventById.get(node.getAttribute("data-event-id") || "");
    if (ev === undefined) return "";
    const where = (ev.meta.sourceProcess || "(none)") + " · pid " + ev.pid + " · " + relativeTime(ev.t, model.t0) + (ev.final ? " · final" : "");
    const step = (ev.meta.workflowStage ? "stage " + ev.meta.workflowStage : "no stage") + " · step " + shortId(ev.correlationId);
    return "event " + ev.id + " · " + (ev.raw.topic || "") + "\n" + where + "\n" + step;
  }
  if (node.hasAttribute("data-stage")) {
    const c = model.byId.get(node.getAttribute("data-correlation") || "");
    if (c === undefined) return "";
    const stage = (node.getAttribute("data-stage") || "").slice(c.correlationId.length + 1);
    return "stage " + stage + " of step " + shortId(c.correlationId) + " · " + statusName(c.status);
  }
  if (node.hasAttribute("data-unstaged")) {
    const id = node.getAttribute("data-unstaged") || "";
    const count = (model.unstaged.get(id) || []).length;
    return count + (count === 1 ? " event" : " events") + " of step " + shortId(id) + " without a stage";
  }
  if (node.hasAttribute("data-gap")) {
    const gap = model.gaps.find((g) => g.key === node.getAttribute("data-gap"));
    if (gap === undefined) return "";
    const numbers = gap.first === gap.last ? " " + gap.first : "s " + gap.first + "–" + gap.last;
    return gap.source + " skipped sequence number" + numbers + " in step " + shortId(gap.correlation.correlationId);
  }
  return "orphan step " + shortId(node.getAttribute("data-orphan") || "") + ": its parent was never seen by the broker";
}
