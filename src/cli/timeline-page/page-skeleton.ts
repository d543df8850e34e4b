import type { ChartView } from "./chart.js";
import { el, svg } from "./dom-builders.js";
import { legend } from "./legend.js";
import type { PageData } from "./page-data.js";
import { formatDuration } from "./time-format.js";
import type { TimelineModel } from "./timeline-model.js";

/** The parts of the page that the chart, the event list, the details panel and the tooltip fill in. */
export interface PageSkeleton extends ChartView {
  /** The column under the chart, beside the details panel, that holds the event list. */
  below: HTMLElement;
  details: HTMLElement;
  tooltip: HTMLDivElement;
}

/**
 * Builds the page around the chart into the body: the header (title, the workflow in one line, the truncation
 * banner, the zoom and the legend), the chart's gutter and plot with room for the event list below them, the
 * details panel beside both and the tooltip.
 */
export function buildPageSkeleton(data: PageData, model: TimelineModel): PageSkeleton {
  const { correlations, events, lanes, t0, t1 } = model;
  const body = document.body;
  const header = el("header");
  const title = el("h1", { id: "title" }, [data.title || "corrbus timeline"]);
  const facts = [
    "root " + (model.rootId || "(unknown)"),
    correlations.length + (correlations.length === 1 ? " correlation" : " correlations"),
    events.length + (events.length === 1 ? " event" : " events"),
    lanes.length + (lanes.length === 1 ? " process" : " processes"),
    "span " + formatDuration(t1 - t0),
  ];
  if (events.length > 0) facts.push("first event " + new Date(t0).toISOString());
  header.append(title, el("div", { class: "meta", id: "summary" }, [facts.join(" · ")]));
  if (model.timeline.truncated) {
    header.append(el("div", { class: "banner", id: "truncated" }, ["The broker cut this timeline short (limit reached): later events are not shown."]));
  }
  const zoom = el("select", { id: "zoom", "aria-label": "zoom" });
  for (const factor of [1, 2, 4, 8, 16, 32, 64]) zoom.append(el("option", { value: factor }, [factor === 1 ? "fit" : factor + "×"]));
  header.append(el("div", { class: "toolbar" }, [el("label", { class: "zoom" }, ["zoom ", zoom]), legend()]));

  const main = el("main");
  const column = el("div", { id: "column" });
  const chart = el("div", { id: "chart" });
  const gutterWrap = el("div", { id: "gutter-wrap" });
  const plotWrap = el("div", { id: "plot-wrap" });
  const gutter = svg("svg", { id: "gutter", class: "gutter" });
  const plot = svg("svg", { id: "plot" });
  gutterWrap.append(gutter);
  plotWrap.append(plot);
  chart.append(gutterWrap, plotWrap);
  const below = el("div", { id: "below" });
  column.append(chart, below);
  const details = el("aside", { id: "details", "aria-live": "polite" });
  main.append(column, details);
  const tooltip = el("div", { id: "tooltip", hidden: "" });
  body.append(header, main, tooltip);
  return { zoom, gutterWrap, plotWrap, gutter, plot, below, details, tooltip };
}
