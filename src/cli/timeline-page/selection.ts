/** What the details panel shows: an event, or a correlation (one of its stages when `stage` is set). */
export type Selected = { kind: "event"; id: string } | { kind: "correlation"; id: string; stage?: string };

/** Marks what is selected in the plot (class "selected"): the event's mark, or the correlation's stage bars (and its events without a stage). */
export function applySelection(plot: SVGSVGElement, selected: Selected | null): void {
  for (const node of plot.querySelectorAll(".selected")) node.classList.remove("selected");
  if (selected === null) return;
  for (const node of plot.querySelectorAll("[data-event-id], [data-stage], [data-unstaged]")) {
    const hit =
      selected.kind === "event"
        ? node.getAttribute("data-event-id") === selected.id
        : node.getAttribute("data-correlation") === selected.id &&
          (node.hasAttribute("data-stage")
            ? selected.stage === undefined || node.getAttribute("data-stage") === selected.id + "/" + selected.stage
            : selected.stage === undefined);
    if (hit) node.classList.add("selected");
  }
}
