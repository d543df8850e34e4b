// The script of the page that `corrbus timeline --html` writes (src/cli/html-timeline.ts). npm run build
// compiles this folder (tsconfig.browser.json) and scripts/build-timeline-page.mjs joins the modules into the
// page's one inline script, which the page's Content-Security-Policy pins by hash.
//
// It reads the JSON block #corrbus-data and draws the workflow with SVG: a lane per source_process, each
// correlation's stages as bars, events as marks, parent→child links, orphans and sequence gaps flagged; below the
// chart a list of the events in time order, and a details panel for what was clicked in either. When it is done,
// <html> carries data-rendered="true", and data-rendered-width the window width it last drew the chart for.

import { createChart } from "./chart.js";
import { createDetailsPanel } from "./details-panel.js";
import { createEventList } from "./event-list.js";
import { readPageData } from "./page-data.js";
import { buildPageSkeleton } from "./page-skeleton.js";
import { wirePlotInteraction } from "./plot-interaction.js";
import { type Selected, applySelection } from "./selection.js";
import { buildModel } from "./timeline-model.js";

const data = readPageData();
const model = buildModel(data);
const page = buildPageSkeleton(data, model);
const drawChart = createChart(page, model);
let selected: Selected | null = null;
const panel = createDetailsPanel(page.details, model, data.generatedAt, select);
const list = createEventList(model, select);
page.below.append(list.element);

function select(what: Selected | null): void {
  selected = what;
  if (what === null) panel.showSummary();
  else if (what.kind === "event") {
    const ev = model.eventById.get(what.id);
    if (ev !== undefined) panel.showEvent(ev);
  } else panel.showCorrelation(what.id, what.stage);
  applySelection(page.plot, selected);
  list.showSelected(selected);
}

/** Draws the chart anew (at the zoom and the window's width) and marks the selection in it again. */
function render(): void {
  drawChart();
  applySelection(page.plot, selected);
  document.documentElement.setAttribute("data-rendered-width", String(window.innerWidth));
}

wirePlotInteraction(page.plot, page.tooltip, model, select);
page.zoom.addEventListener("change", render);
// One redraw once the window stops changing size, not one per resize event.
let resizeTimer = 0;
window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(render, 100);
});

render();
panel.showSummary();
document.documentElement.setAttribute("data-rendered", "true");
