import {
  type Block,
  type ChartLayout,
  type DrawnRow,
  type Row,
  AXIS,
  BAR_H,
  GUTTER,
  LANE_PAD,
  MARK_ROW,
  PAD_L,
  STAGE_ROW,
  layoutChart,
} from "./chart-layout.js";
import { WARN, shade, textOn } from "./colors.js";
import { clear, svg, svgText, textWidth } from "./dom-builders.js";
import { ellipsis, laneTitle, shortId, statusName } from "./labels.js";
import { arrowMarker, badge, markShape } from "./symbols.js";
import { formatDuration, parseTime } from "./time-format.js";
import type { Gap, Lane, TimelineEvent, TimelineModel } from "./timeline-model.js";

/** The elements the chart draws into and reads its size from. */
export interface ChartView {
  zoom: HTMLSelectElement;
  plotWrap: HTMLElement;
  gutter: SVGSVGElement;
  plot: SVGSVGElement;
}

/**
 * The chart of `model`: a function that draws it anew into `view` at the width the window and the zoom give.
 * Labels go in the gutter, everything on the time axis in the plot; every mark, bar, gap and orphan note carries
 * data-* attributes naming what it shows, which the interaction, the selection and the tests find it by.
 */
export function createChart(view: ChartView, model: TimelineModel): () => void {
  const { zoom, plotWrap, gutter, plot } = view;
  const { t0, span, colorOf } = model;

  function render(): void {
    const factor = Number(zoom.value) || 1;
    const fit = Math.max(480, plotWrap.clientWidth || 900);
    const layout = layoutChart(model, Math.round(fit * factor));
    const { width, height, x, blocks } = layout;

    clear(gutter);
    clear(plot);
    gutter.setAttribute("height", String(height));
    plot.setAttribute("width", String(width));
    plot.setAttribute("height", String(height));
    arrowMarker(plot, "arrow");

    // Backgrounds: zebra lanes, orphan blocks.
    const backGutter = svg("g", {}, gutter);
    const back = svg("g", {}, plot);
    blocks.forEach((block) => {
      if (block.c.orphan) {
        svg("rect", { class: "orphan-bg", x: 0, y: block.top, width: GUTTER, height: block.bottom - block.top }, backGutter);
        svg("rect", { class: "orphan-bg", x: 0, y: block.top, width, height: block.bottom - block.top }, back);
      }
    });
    model.lanes.forEach((lane, i) => {
      if (i % 2 === 1) {
        svg("rect", { class: "row-odd", x: 0, y: lane.top, width: GUTTER, height: lane.height }, backGutter);
        svg("rect", { class: "row-odd", x: 0, y: lane.top, width, height: lane.height }, back);
      }
    });

    drawAxis(layout);
    drawSection(layout.stepsSection, "WORKFLOW STEPS", width, "stages as bars, first to last event");
    drawSection(layout.lanesSection, "PROCESSES", width, "one lane per publisher (source_process + pid)");

    const linkLayer = svg("g", { class: "links" }, plot);
    const barLayer = svg("g", { class: "stages" }, plot);
    const blockById = new Map<string, Block>();
    for (const block of blocks) {
      blockById.set(block.c.correlationId, block);
      drawBlock(block, x, barLayer, width);
    }
    for (const block of blocks) {
      const parent = block.c.parentCorrelationId;
      const parentBlock = parent !== undefined ? blockById.get(parent) : undefined;
      if (parentBlock !== undefined) drawLink(parentBlock, block, linkLayer);
    }

    const gapLayer = svg("g", { class: "gaps" }, plot);
    const markLayer = svg("g", { class: "marks" }, plot);
    for (const lane of model.lanes) {
      drawLaneLabel(lane);
      for (const gap of lane.gaps) drawGap(gap, gapLayer);
      for (const ev of lane.events) drawMark(ev, markLayer);
    }
  }

  function drawAxis({ x, inner, height }: ChartLayout): void {
    const axis = svg("g", { class: "axis" }, plot);
    const step = niceStep(span / Math.max(2, inner / 110));
    svg("line", { class: "axis-line", x1: PAD_L, x2: PAD_L + inner, y1: AXIS - 8, y2: AXIS - 8 }, axis);
    for (let k = 0; k * step <= span + step * 1e-6; k++) {
      const t = t0 + k * step;
      const tx = x(t);
      const tick = svg("g", { class: "tick" }, axis);
      svg("line", { class: "grid", x1: tx, x2: tx, y1: AXIS - 8, y2: height }, tick);
      svg("line", { x1: tx, x2: tx, y1: AXIS - 13, y2: AXIS - 8 }, tick);
      svgText(tick, tx, AXIS - 17, k === 0 ? "0" : "+" + formatDuration(k * step), { "text-anchor": "middle" });
    }
    svgText(gutter, 12, AXIS - 17, "time since first event →", { class: "muted" });
  }

  function drawSection(top: number, label: string, width: number, hint: string): void {
    svg("line", { class: "section-line", x1: 0, x2: GUTTER, y1: top + 0.5, y2: top + 0.5 }, gutter);
    svg("line", { class: "section-line", x1: 0, x2: width, y1: top + 0.5, y2: top + 0.5 }, plot);
    svgText(gutter, 12, top + 18, label, { class: "section-label" });
    svgText(plot, PAD_L, top + 18, hint, { class: "muted" });
  }

  function drawBlock(block: Block, x: ChartLayout["x"], layer: SVGGElement, width: number): void {
    const c = block.c;
    const color = colorOf.get(c.correlationId) || "";
    const depth = Math.min(c.depth || 0, 8);
    const indent = 12 + depth * 14;
    const firstRow = block.rows[0].y;
    const label = svg("g", { "data-correlation-label": c.correlationId }, gutter);
    svg("title", {}, label).textContent = "correlation " + c.correlationId + (c.parentCorrelationId ? "\nparent " + c.parentCorrelationId : "");
    const ly = firstRow + STAGE_ROW / 2 + 4;
    if (depth > 0) svg("path", { d: "M" + (indent - 10) + " " + (ly - 11) + " V" + (ly - 4) + " H" + (indent - 3), fill: "none", stroke: "#9aa3af" }, label);
    svg("rect", { x: indent, y: ly - 9, width: 10, height: 10, rx: 2, fill: color }, label);
    const idText = svgText(label, indent + 15, ly, shortId(c.correlationId), { class: "name" });
    let bx = indent + 15 + textWidth(idText) + 7;
    const statusText = svgText(label, bx, ly, statusName(c.status), { class: "muted" });
    bx += textWidth(statusText) + 8;
    if (c.orphan) bx = badge(label, bx, ly, "ORPHAN", WARN);
    if ((c.gaps || []).length > 0) badge(label, bx, ly, "GAP", WARN);

    if (c.orphan) {
      const note = svg("g", { class: "orphan-note", "data-orphan": c.correlationId, "data-correlation": c.correlationId }, layer);
      const started = parseTime(c.firstEventAt);
      const nx = x(started !== undefined ? started : t0);
      const lineEnd = firstRow + (STAGE_ROW - BAR_H) / 2;
      svg("line", { x1: nx, x2: nx, y1: block.noteY + 4, y2: lineEnd, stroke: WARN, "stroke-width": 1.5, "stroke-dasharray": "3 2" }, note);
      svg("circle", { cx: nx, cy: block.noteY + 6, r: 5, fill: WARN }, note);
      svgText(note, nx, block.noteY + 10, "?", { "text-anchor": "middle", fill: "#fff", "font-size": 9, "font-weight": 700 });
      const text = "orphan: parent " + shortId(c.parentCorrelationId || "") + "… was never seen by the broker";
      const anchor = nx + 10 + text.length * 6.6 > width ? "end" : "start";
      svgText(note, anchor === "end" ? nx - 10 : nx + 10, block.noteY + 14, text, { class: "warn halo", "text-anchor": anchor });
    }

    for (const row of block.rows) {
      const stage = row.stage;
      if (stage === null) {
        svgText(layer, PAD_L, row.y + STAGE_ROW / 2 + 4, "(no stages)", { class: "muted" });
        continue;
      }
      const first = parseTime(stage.firstEventAt),
        last = parseTime(stage.lastEventAt);
      const complete = stage.completedAt !== undefined;
      const key = c.correlationId + "/" + stage.name;
      const attrs = { class: "stage", "data-stage": key, "data-correlation": c.correlationId, "data-complete": complete, tabindex: 0, role: "button" };
      const g = svg("g", attrs, layer);
      g.setAttribute("aria-label", "stage " + stage.name + " of " + c.correlationId);
      const x1 = x(first),
        x2 = Math.max(x(last), x1 + 3);
      const by = row.y + (STAGE_ROW - BAR_H) / 2;
      row.x1 = x1;
      row.x2 = x2;
      row.by = by;
      svg(
        "rect",
        complete
          ? { class: "bar complete", x: x1, y: by, width: x2 - x1, height: BAR_H, rx: 3, fill: color, stroke: shade(color) }
          : { class: "bar open", x: x1, y: by, width: x2 - x1, height: BAR_H, rx: 3, fill: color, "fill-opacity": 0.25, stroke: color },
        g,
      );
      const duration = formatDuration((last || 0) - (first || 0));
      const text = (stage.name || "(no stage)") + " · " + duration + " · " + String(stage.eventCount || 0) + " ev" + (complete ? " ✓" : " · open");
      const label = svgText(g, x1 + 6, by + BAR_H / 2 + 4, text);
      const w = textWidth(label);
      // The label goes inside its bar when it fits, else after the bar, else before it.
      if (w + 12 <= x2 - x1) label.setAttribute("fill", complete ? textOn(color) : "#1d2330");
      else {
        label.setAttribute("class", "halo");
        if (x2 + 6 + w <= width - 4) label.setAttribute("x", String(x2 + 6));
        else {
          label.setAttribute("x", String(x1 - 6));
          label.setAttribute("text-anchor", "end");
        }
      }
    }
  }

  function drawLink(parentBlock: Block, childBlock: Block, layer: SVGGElement): void {
    const child = childBlock.rows.find(isDrawn);
    if (child === undefined) return;
    const rows = parentBlock.rows.filter(isDrawn);
    if (rows.length === 0) return;
    // From the parent's stage that was running when the child started, else the
    // last one started before it, else its first.
    const before = rows.filter((row) => row.x1 <= child.x1);
    const from = before.find((row) => child.x1 <= row.x2) || before[before.length - 1] || rows[0];
    // Down from the parent's bar (at the child's start, or the bar's end when
    // the child starts later), then right into the child's bar: the path runs
    // left of the child's bar and never along a label.
    const ax = Math.max(from.x1 + 1, Math.min(from.x2 - 1, child.x1 - 12));
    const mid = child.by + BAR_H / 2;
    const d =
      child.x1 - ax < 6 ? "M" + ax + " " + (from.by + BAR_H) + " V" + (child.by - 1) : "M" + ax + " " + (from.by + BAR_H) + " V" + mid + " H" + (child.x1 - 1);
    const g = svg("g", { "data-link": parentBlock.c.correlationId + "/" + childBlock.c.correlationId }, layer);
    svg("path", { class: "link", d, "marker-end": "url(#arrow)" }, g);
  }

  function drawLaneLabel(lane: Lane): void {
    const g = svg("g", { "data-lane": lane.key.replace("\u0000", "/") }, gutter);
    svg("title", {}, g).textContent = laneTitle(lane);
    const ly = lane.top + lane.band + LANE_PAD + MARK_ROW / 2 + 4;
    svgText(g, 12, ly, ellipsis(lane.name || "(no source_process)", 24), { class: "name" });
    svgText(g, 12 + 178, ly, "pid " + lane.pid + (lane.verified ? " ✓" : ""), { class: "muted" });
  }

  function drawGap(gap: Gap, layer: SVGGElement): void {
    const lane = gap.lane;
    if (lane === undefined) return;
    const xs = [gap.before, gap.after].filter((ev) => ev !== undefined).map((ev) => ev.x);
    let a = Math.min(...xs),
      b = Math.max(...xs);
    // A bracket wide enough to see even when the events on either side are close.
    if (b - a < 16) {
      const mid = (a + b) / 2;
      a = mid - 8;
      b = mid + 8;
    }
    const g = svg("g", { class: "gap", "data-gap": gap.key, "data-correlation": gap.correlation.correlationId }, layer);
    const top = lane.top + 5,
      bottom = lane.top + lane.band + LANE_PAD;
    svg("path", { class: "bracket", d: "M" + a + " " + bottom + " V" + (top + 4) + " H" + b + " V" + bottom }, g);
    const missing = gap.first === gap.last ? "seq " + gap.first : "seq " + gap.first + "–" + gap.last;
    svgText(g, b + 5, top + 9, "⚠ gap: " + missing + " missing", { class: "warn halo", "font-size": 11 });
  }

  function drawMark(ev: TimelineEvent, layer: SVGGElement): void {
    const color = colorOf.get(ev.correlationId) || "#6b7280";
    const attrs = { class: "mark", "data-event-id": ev.id, "data-correlation": ev.correlationId, "data-final": ev.final, tabindex: 0, role: "button" };
    const g = svg("g", attrs, layer);
    g.setAttribute("aria-label", "event " + ev.id + " " + (ev.raw.topic || ""));
    svg("circle", { cx: ev.x, cy: ev.y, r: 7.5, fill: "transparent" }, g);
    svg("circle", { class: "ring", cx: ev.x, cy: ev.y, r: 9.5 }, g);
    markShape(g, ev.x, ev.y, color, ev.final ? "final" : ev.control ? "control" : "event");
  }

  return render;
}

/** A row whose bar the last drawing placed. */
function isDrawn(row: Row): row is DrawnRow {
  return row.x1 !== undefined;
}

/** A round tick step (1, 2 or 5 times a power of ten) near `raw`. */
function niceStep(raw: number): number {
  const power = 10 ** Math.floor(Math.log10(raw));
  const unit = raw / power;
  return (unit < 1.5 ? 1 : unit < 3.5 ? 2 : unit < 7.5 ? 5 : 10) * power;
}
