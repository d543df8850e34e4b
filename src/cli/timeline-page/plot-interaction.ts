import type { Selected } from "./selection.js";
import { tooltipText } from "./tooltip-text.js";
import type { TimelineModel } from "./timeline-model.js";

/** What in the plot answers the pointer and the keyboard. */
const TARGETS = "[data-event-id], [data-stage], [data-unstaged], [data-gap], [data-orphan]";

/**
 * Makes the plot answer its users: a click (or Enter or Space on a focused mark or bar) selects the event or the
 * correlation, hovering shows a tooltip and highlights every mark and bar of the same correlation. The listeners
 * sit on the plot itself, so they outlive every redraw of its content.
 */
export function wirePlotInteraction(plot: SVGSVGElement, tooltip: HTMLElement, model: TimelineModel, select: (what: Selected) => void): void {
  function activate(node: Element | null): void {
    if (node === null) return;
    if (node.hasAttribute("data-event-id")) select({ kind: "event", id: node.getAttribute("data-event-id") || "" });
    else if (node.hasAttribute("data-stage")) {
      const key = node.getAttribute("data-stage") || "";
      const id = node.getAttribute("data-correlation") || "";
      select({ kind: "correlation", id, stage: key.slice(id.length + 1) });
    } else select({ kind: "correlation", id: node.getAttribute("data-correlation") || "" });
  }

  plot.addEventListener("click", (event) => activate(targetOf(event)));
  plot.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" && event.key !== " ") return;
    event.preventDefault();
    activate(targetOf(event));
  });
  plot.addEventListener("mousemove", (event) => {
    const node = targetOf(event);
    const correlation = node === null ? null : node.getAttribute("data-correlation");
    plot.classList.toggle("focus", correlation !== null);
    for (const other of plot.querySelectorAll(".hl")) if (other.getAttribute("data-correlation") !== correlation) other.classList.remove("hl");
    if (correlation !== null) {
      for (const other of plot.querySelectorAll("[data-correlation]")) if (other.getAttribute("data-correlation") === correlation) other.classList.add("hl");
    }
    if (node === null) {
      tooltip.hidden = true;
      return;
    }
    tooltip.textContent = tooltipText(node, model);
    tooltip.hidden = false;
    // Right of and below the pointer, flipped above it at the bottom of the window, always inside it.
    const left = Math.min(event.clientX + 14, window.innerWidth - tooltip.offsetWidth - 8);
    const top = event.clientY + 16 + tooltip.offsetHeight > window.innerHeight ? event.clientY - tooltip.offsetHeight - 10 : event.clientY + 16;
    tooltip.style.left = Math.max(4, left) + "px";
    tooltip.style.top = Math.max(4, top) + "px";
  });
  plot.addEventListener("mouseleave", () => {
    tooltip.hidden = true;
    plot.classList.remove("focus");
  });
}

/** The mark, bar, row of events without a stage, gap or orphan note an event of the plot happened on, if any. */
function targetOf(event: Event): Element | null {
  return event.target instanceof Element ? event.target.closest(TARGETS) : null;
}
