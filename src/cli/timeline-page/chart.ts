import {
  type Block,
  type ChartLayout,
  type DrawnRow,
  type Row,
  AXIS,
  BAR_H,
  COMPACT_MAX,
  GUTTER,
  GUTTER_COMPACT,
  LANE_PAD,
  MARK_ROW,
  PAD_L,
  STAGE_ROW,
  layoutChart,
} from "./chart-layout.js";
import { WARN, shade, textOn } from "./colors.js";
import { clear, svg, svgText, textWidth } from "./dom-builders.js";
import { ellipsis, lanePids, laneTitle, shortId, statusName } from "./labels.js";
import { HIT_RADIUS, arrowMarker, badge, markShape } from "./symbols.js";
import { formatDuration, parseTime } from "./time-format.js";
import type { StageJson } from "./page-data.js";
import type { Gap, Lane, TimelineEvent, TimelineModel } from "./timeline-model.js";

/** The elements the chart draws into and reads its size from. */
export interface ChartView {
  zoom: HTMLSelectElement;
  gutterWrap: HTMLElement;
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
  const { zoom, gutterWrap, plotWrap, gutter, plot } = view;
  let compact = false;
  let gutterWidth = 0;
  const { t0, t1, span, colorOf } = model;

  function render(): void {
    const factor = Number(zoom.value) || 1;
    compact = window.innerWidth <= COMPACT_MAX;
    gutterWidth = compact ? GUTTER_COMPACT : GUTTER;
    // The label column takes its width before the plot measures what is left to it.
    gutterWrap.style.flexBasis = gutterWidth + "px";
    gutter.setAttribute("width", String(gutterWidth));
    const fit = Math.max(compact ? 200 : 480, plotWrap.clientWidth || 900);
    const layout = layoutChart(model, Math.round(fit * factor), compact);
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
        svg("rect", { class: "orphan-bg", x: 0, y: block.top, width: gutterWidth, height: block.bottom - block.top }, backGutter);
        svg("rect", { class: "orphan-bg", x: 0, y: block.top, width, height: block.bottom - block.top }, back);
      }
    });
    model.lanes.forEach((lane, i) => {
      if (i % 2 === 1) {
        svg("rect", { class: "row-odd", x: 0, y: lane.top, width: gutterWidth, height: lane.height }, backGutter);
        svg("rect", { class: "row-odd", x: 0, y: lane.top, width, height: lane.height }, back);
      }
    });

    drawAxis(layout);
    drawSection(layout.stepsSection, "WORKFLOW STEPS", width, "stages as bars, first to last event");
    drawSection(layout.lanesSection, "PROCESSES", width, "one lane per source_process, its pids in the label");

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
    const spreadLayer = svg("g", { class: "spreads" }, plot);
    const markLayer = svg("g", { class: "marks" }, plot);
    for (const lane of model.lanes) {
      drawLaneLabel(lane);
      for (const gap of lane.gaps) drawGap(gap, gapLayer);
      for (const ev of lane.events) {
        // A mark moved right of its instant (events there share it) keeps a line back to where it happened.
        if (ev.x - ev.tx > 1) svg("line", { class: "spread", x1: ev.tx, x2: ev.x, y1: ev.y, y2: ev.y }, spreadLayer);
        drawMark(ev, markLayer);
      }
    }
  }

  function drawAxis({ x, inner, height }: ChartLayout): void {
    const axis = svg("g", { class: "axis" }, plot);
    const step = niceStep(span / Math.max(2, inner / 110));
    svg("line", { class: "axis-line", x1: PAD_L, x2: PAD_L + inner, y1: AXIS - 8, y2: AXIS - 8 }, axis);
    const tick = (offset: number, label: string): SVGGElement => {
      const tx = x(t0 + offset);
      const g = svg("g", { class: "tick" }, axis);
      svg("line", { class: "grid", x1: tx, x2: tx, y1: AXIS - 8, y2: height }, g);
      svg("line", { x1: tx, x2: tx, y1: AXIS - 13, y2: AXIS - 8 }, g);
      svgText(g, tx, AXIS - 17, label, { "text-anchor": "middle" });
      return g;
    };
    let last = tick(0, "0");
    let k = 1;
    for (; k * step <= span + step * 1e-6; k++) last = tick(k * step, "+" + formatDuration(k * step));
    // The round ticks rarely meet the end of the axis: a tick there tells the whole span, and it takes the place
    // of the round tick before it when their labels would touch.
    if (t1 > t0 && (k - 1) * step < span - step * 1e-6) {
      const end = tick(span, "+" + formatDuration(t1 - t0));
      if (k > 1 && labelRight(last) + 6 > labelLeft(end)) last.remove();
    }
    svgText(gutter, 12, AXIS - 17, compact ? "time →" : "time since first event →", { class: "muted" });
  }

  function labelLeft(tick: SVGGElement): number {
    return (tick.querySelector("text") as SVGTextElement).getBBox().x;
  }

  function labelRight(tick: SVGGElement): number {
    const box = (tick.querySelector("text") as SVGTextElement).getBBox();
    return box.x + box.width;
  }

  function drawSection(top: number, label: string, width: number, hint: string): void {
    svg("line", { class: "section-line", x1: 0, x2: gutterWidth, y1: top + 0.5, y2: top + 0.5 }, gutter);
    svg("line", { class: "section-line", x1: 0, x2: width, y1: top + 0.5, y2: top + 0.5 }, plot);
    svgText(gutter, 12, top + 18, label, { class: "section-label" });
    if (!compact) svgText(plot, PAD_L, top + 18, hint, { class: "muted" });
  }

  function drawBlock(block: Block, x: ChartLayout["x"], layer: SVGGElement, width: number): void {
    const c = block.c;
    const color = colorOf.get(c.correlationId) || "";
    const depth = Math.min(c.depth || 0, 8);
    const indent = 12 + depth * (compact ? 10 : 14);
    const firstRow = block.rows[0].y;
    const label = svg("g", { "data-correlation-label": c.correlationId }, gutter);
    svg("title", {}, label).textContent = "correlation " + c.correlationId + (c.parentCorrelationId ? "\nparent " + c.parentCorrelationId : "");
    const ly = firstRow + STAGE_ROW / 2 + 4;
    if (depth > 0) svg("path", { d: "M" + (indent - 10) + " " + (ly - 11) + " V" + (ly - 4) + " H" + (indent - 3), fill: "none", stroke: "#9aa3af" }, label);
    svg("rect", { x: indent, y: ly - 9, width: 10, height: 10, rx: 2, fill: color }, label);
    const idText = svgText(label, indent + 15, ly, shortId(c.correlationId), { class: "name" });
    let bx = indent + 15 + textWidth(idText) + 7;
    // A compact label column has no room for the status; the details panel shows it.
    if (!compact) bx += textWidth(svgText(label, bx, ly, statusName(c.status), { class: "muted" })) + 8;
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
      const text = compact ? "parent never seen" : "orphan: parent " + shortId(c.parentCorrelationId || "") + "… was never seen by the broker";
      besideMark(svgText(note, nx + 10, block.noteY + 14, text, { class: "warn halo" }), nx - 10, width);
    }

    for (const row of block.rows) {
      const stage = row.stage;
      if (stage === null) {
        svgText(layer, PAD_L, row.y + STAGE_ROW / 2 + 4, "(no stages)", { class: "muted" });
        continue;
      }
      if (row.unstaged) {
        drawUnstaged(c, stage, row, color, layer, x, width);
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
      // A compact chart names the stage only; its span and count are in the tooltip and the details panel.
      const facts = compact ? "" : " · " + duration + " · " + String(stage.eventCount || 0) + " ev";
      const text = stage.name + facts + (complete ? " ✓" : compact ? " …" : " · open");
      const label = svgText(g, x1 + 6, by + BAR_H / 2 + 4, text);
      // The label goes inside its bar when it fits, else after the bar, else before it.
      if (textWidth(label) + 12 <= x2 - x1) label.setAttribute("fill", complete ? textOn(color) : "#1d2330");
      else placeOutside(label, x1, x2, width);
    }
  }

  /** A label that does not fit in its bar: after the bar when there is room, else before it when there is room there. */
  function placeOutside(label: SVGTextElement, x1: number, x2: number, width: number): void {
    label.setAttribute("class", "halo");
    label.setAttribute("x", String(x2 + 6));
    besideMark(label, x1 - 6, width);
  }

  /**
   * A label drawn from its x rightwards: when it would run past `width` it ends at `endX` instead, or where it fits
   * when neither side has room (over what it labels, rather than cut off).
   */
  function besideMark(label: SVGTextElement, endX: number, width: number): void {
    const w = textWidth(label);
    if (Number(label.getAttribute("x")) + w <= width - 4) return;
    if (endX - w >= 0) {
      label.setAttribute("x", String(endX));
      label.setAttribute("text-anchor", "end");
    } else label.setAttribute("x", String(Math.max(2, width - 4 - w)));
  }

  /** A correlation's events without a stage: a tick at each on a dotted line from the first to the last, no bar. */
  function drawUnstaged(c: Block["c"], stage: StageJson, row: Row, color: string, layer: SVGGElement, x: ChartLayout["x"], width: number): void {
    const attrs = { class: "unstaged", "data-unstaged": c.correlationId, "data-correlation": c.correlationId, tabindex: 0, role: "button" };
    const g = svg("g", attrs, layer);
    g.setAttribute("aria-label", "events without a stage in " + c.correlationId);
    const first = parseTime(stage.firstEventAt),
      last = parseTime(stage.lastEventAt);
    const x1 = x(first),
      x2 = Math.max(x(last), x1 + 3);
    const by = row.y + (STAGE_ROW - BAR_H) / 2;
    const cy = by + BAR_H / 2;
    row.x1 = x1;
    row.x2 = x2;
    row.by = by;
    svg("rect", { class: "hit", x: x1 - 4, y: by, width: x2 - x1 + 8, height: BAR_H, fill: "transparent" }, g);
    svg("line", { class: "unstaged-line", x1, x2, y1: cy, y2: cy, stroke: color }, g);
    for (const ev of model.unstaged.get(c.correlationId) || []) {
      const ex = x(ev.t);
      svg("line", { class: "unstaged-tick", x1: ex, x2: ex, y1: cy - 6, y2: cy + 6, stroke: color }, g);
    }
    const count = Number(stage.eventCount || 0);
    const text = count + (count === 1 ? " event" : " events") + " without a stage";
    placeOutside(svgText(g, x2 + 6, cy + 4, text), x1 - 4, x2 + 4, width);
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
    const g = svg("g", { "data-lane": lane.name, "data-pids": [...lane.pids].join(" ") }, gutter);
    svg("title", {}, g).textContent = laneTitle(lane);
    const ly = lane.top + lane.band + LANE_PAD + MARK_ROW / 2 + 4;
    if (compact) {
      // The pids go under the name.
      svgText(g, 12, ly - 5, ellipsis(lane.name || "(no source_process)", 17), { class: "name" });
      svgText(g, 12, ly + 9, lanePids(lane), { class: "muted", "font-size": 11 });
      return;
    }
    svgText(g, 12, ly, ellipsis(lane.name || "(no source_process)", 24), { class: "name" });
    svgText(g, 12 + 178, ly, lanePids(lane), { class: "muted" });
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
    const text = (compact ? "⚠ " : "⚠ gap: ") + missing + " missing";
    besideMark(svgText(g, b + 5, top + 9, text, { class: "warn halo", "font-size": 11 }), a - 5, plot.width.baseVal.value);
  }

  function drawMark(ev: TimelineEvent, layer: SVGGElement): void {
    const color = colorOf.get(ev.correlationId) || "#6b7280";
    const attrs = {
      class: "mark",
      "data-event-id": ev.id,
      "data-correlation": ev.correlationId,
      "data-final": ev.final,
      "data-pid": ev.pid,
      tabindex: 0,
      role: "button",
    };
    const g = svg("g", attrs, layer);
    g.setAttribute("aria-label", "event " + ev.id + " " + (ev.raw.topic || ""));
    svg("circle", { cx: ev.x, cy: ev.y, r: HIT_RADIUS, fill: "transparent" }, g);
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
