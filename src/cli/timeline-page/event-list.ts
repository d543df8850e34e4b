import { el, svg } from "./dom-builders.js";
import type { Selected } from "./selection.js";
import { markShape } from "./symbols.js";
import { relativeTime } from "./time-format.js";
import type { TimelineEvent, TimelineModel } from "./timeline-model.js";

/** The events of the timeline as a list to scan, beside the chart. */
export interface EventList {
  /** The section holding the list. */
  element: HTMLElement;
  /** Marks the row of the selected event; none when nothing or a correlation is selected. */
  showSelected(selected: Selected | null): void;
}

/**
 * Every event of `model` in a table, in time order: its time since the first event, stage, source (with pid) and
 * topic, and a track where its mark sits at its time, as a trace viewer puts each span's bar on its row. The chart
 * shows where events happen; the list lets an analyst read them one after another without hovering over each mark.
 * A click (or Enter or Space on a focused row) calls `select`, which opens the same details panel as the mark.
 */
export function createEventList(model: TimelineModel, select: (what: Selected) => void): EventList {
  const { colorOf, t0, span } = model;
  const sorted = [...model.events].sort(byTime);
  const body = el("tbody");
  const rowById = new Map<string, HTMLTableRowElement>();
  for (const ev of sorted) {
    const row = eventRow(ev);
    rowById.set(ev.id, row);
    body.append(row);
  }
  const head = el("thead", {}, [
    el(
      "tr",
      {},
      ["time", "stage", "source", "topic", "on the time axis"].map((h) => el("th", { scope: "col" }, [h])),
    ),
  ]);
  const table = el("table", { id: "event-list" }, [head, body]);
  const hint = "in time order; click a row for its details";
  const section = el("section", { id: "events", "aria-label": "events in time order" }, [
    el("h2", { class: "list-title" }, ["Events (" + sorted.length + ") ", el("span", { class: "muted" }, [hint])]),
    el("div", { class: "list-wrap" }, [table]),
  ]);

  function eventRow(ev: TimelineEvent): HTMLTableRowElement {
    const stage = ev.meta.workflowStage || "";
    const axis = el("div", { class: "track-axis" });
    const icon = svg("svg", { class: "row-mark", width: 16, height: 16, "aria-hidden": "true" });
    markShape(icon, 8, 8, colorOf.get(ev.correlationId) || "#6b7280", ev.final ? "final" : ev.control ? "control" : "event");
    // Centred on its instant: the track's width is the axis from the first event to the last.
    icon.style.left = "calc(" + (ev.t === undefined ? 0 : ((ev.t - t0) / span) * 100) + "% - 8px)";
    axis.append(icon);
    return el("tr", { "data-row-event-id": ev.id, "data-correlation": ev.correlationId, tabindex: 0, "aria-selected": "false" }, [
      el("td", { class: "time", title: ev.raw.receivedAt || ev.raw.timestamp }, [relativeTime(ev.t, t0)]),
      el("td", { class: stage ? undefined : "muted" }, [stage || "(no stage)"]),
      el("td", {}, [(ev.meta.sourceProcess || "(none)") + " · pid " + ev.pid]),
      el("td", { class: "mono" }, [ev.raw.topic || ""]),
      el("td", { class: "track" }, [axis]),
    ]);
  }

  function activate(target: EventTarget | null): void {
    const row = target instanceof Element ? target.closest("tr[data-row-event-id]") : null;
    if (row !== null) select({ kind: "event", id: row.getAttribute("data-row-event-id") || "" });
  }
  body.addEventListener("click", (event) => activate(event.target));
  body.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" && event.key !== " ") return;
    event.preventDefault();
    activate(event.target);
  });

  let shown: HTMLTableRowElement | undefined;
  function showSelected(selected: Selected | null): void {
    if (shown !== undefined) shown.setAttribute("aria-selected", "false");
    shown = selected !== null && selected.kind === "event" ? rowById.get(selected.id) : undefined;
    if (shown !== undefined) shown.setAttribute("aria-selected", "true");
  }

  return { element: section, showSelected };
}

/** Earlier first; events at one instant (or both without a time, which go last) by event id. */
function byTime(a: TimelineEvent, b: TimelineEvent): number {
  if (a.t !== b.t) {
    if (a.t === undefined) return 1;
    if (b.t === undefined) return -1;
    return a.t - b.t;
  }
  const ia = BigInt(a.id),
    ib = BigInt(b.id);
  return ia < ib ? -1 : ia > ib ? 1 : 0;
}
