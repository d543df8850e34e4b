// The style and browser script of the page renderTimelineHtml writes
// (html-timeline.ts). Both are plain strings inlined into the page and pinned
// there by hash in its Content-Security-Policy.
//
// The script reads the JSON block #corrbus-data (toJson of GetTimelineResponse
// plus payload sizes) and draws the chart with SVG. Every string from the data
// (topics, tags, payloads, process names) goes in through textContent,
// append(string) or setAttribute on data-*/aria attributes: never innerHTML.
// It is written without template literals so that String.raw keeps it verbatim.

/** The page's style sheet. */
export const timelineStyle = String.raw`
:root { color-scheme: light; --fg: #1d2330; --muted: #5b6473; --line: #d9dde3; --panel: #f6f7f9; --warn: #c62828; }
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { margin: 0; font: 13px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", "Liberation Sans", sans-serif; color: var(--fg); background: #fff; }
header { padding: 12px 16px 10px; border-bottom: 1px solid var(--line); }
h1 { font-size: 17px; margin: 0 0 4px; overflow-wrap: anywhere; }
h2 { font-size: 15px; margin: 0 0 8px; overflow-wrap: anywhere; }
h3 { font-size: 12px; margin: 14px 0 4px; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
.meta { color: var(--muted); overflow-wrap: anywhere; }
.banner { margin-top: 6px; padding: 4px 8px; background: #fff4e5; border: 1px solid #f0b45b; border-radius: 4px; }
.toolbar { display: flex; flex-wrap: wrap; gap: 8px 18px; align-items: center; margin-top: 8px; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 14px; color: var(--muted); font-size: 12px; }
.legend span { display: inline-flex; align-items: center; gap: 5px; }
.legend svg { overflow: visible; }
label.zoom { color: var(--muted); font-size: 12px; }
main { display: flex; align-items: flex-start; }
#chart { flex: 1; min-width: 0; display: flex; }
#gutter-wrap { flex: 0 0 290px; border-right: 1px solid var(--line); background: var(--panel); }
#plot-wrap { flex: 1; min-width: 0; overflow-x: auto; }
#details { flex: 0 0 360px; width: 360px; position: sticky; top: 0; max-height: 100vh; overflow: auto; border-left: 1px solid var(--line); padding: 12px 14px 24px; background: var(--panel); }
#details .hint { color: var(--muted); }
svg { display: block; }
svg text { font-size: 12px; fill: var(--fg); }
.tick text { fill: var(--muted); font-size: 11px; }
.tick line, .axis-line { stroke: #9aa3af; }
.grid { stroke: #edf0f3; }
.section-label { font-weight: 600; font-size: 11px; fill: var(--muted); letter-spacing: .06em; }
.section-line { stroke: var(--line); }
.row-odd { fill: #fafbfc; }
.gutter .muted, .muted { fill: var(--muted); color: var(--muted); }
.gutter .name { font-weight: 600; }
.stage .bar.open { stroke-dasharray: 4 2; stroke-width: 1.5; }
.stage .bar.complete { stroke-width: 1; }
.halo { paint-order: stroke; stroke: #fff; stroke-width: 3px; stroke-linejoin: round; }
.stage, .mark, .gap, .orphan-note { cursor: pointer; }
.mark:focus { outline: none; }
.mark .ring { display: none; fill: none; stroke: #111; stroke-width: 1.6; }
.mark.selected .ring, .mark:focus .ring { display: inline; }
.stage.selected .bar { stroke: #111; stroke-width: 2; }
.link { fill: none; stroke: #56606e; stroke-width: 1.4; }
.orphan-bg { fill: #fdecea; }
.warn { fill: var(--warn); font-weight: 600; }
.warn-text { color: var(--warn); font-weight: 600; }
.gap .bracket { stroke: var(--warn); stroke-width: 1.6; fill: none; stroke-dasharray: 3 2; }
.gap .end { stroke: var(--warn); stroke-width: 1.6; }
.badge rect { rx: 3px; }
.badge text { font-size: 10px; font-weight: 700; fill: #fff; letter-spacing: .03em; }
#plot.focus .mark:not(.hl) { opacity: .3; }
#plot.focus .stage:not(.hl) { opacity: .35; }
#tooltip { position: fixed; z-index: 10; pointer-events: none; background: #1d2330; color: #fff; padding: 5px 8px; border-radius: 4px; font-size: 12px; max-width: 440px; white-space: pre-wrap; overflow-wrap: anywhere; box-shadow: 0 2px 8px rgba(0,0,0,.2); }
dl.kv { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 2px 10px; margin: 0; }
dl.kv dt { color: var(--muted); }
dl.kv dd { margin: 0; overflow-wrap: anywhere; font-family: ui-monospace, "DejaVu Sans Mono", "Liberation Mono", monospace; font-size: 12px; }
table { border-collapse: collapse; width: 100%; font-size: 12px; table-layout: fixed; }
th, td { border-bottom: 1px solid var(--line); padding: 3px 4px; text-align: left; vertical-align: top; overflow-wrap: anywhere; }
th { color: var(--muted); font-weight: 600; }
td.mono { font-family: ui-monospace, "DejaVu Sans Mono", "Liberation Mono", monospace; }
pre.payload { margin: 0; background: #fff; border: 1px solid var(--line); border-radius: 4px; padding: 8px; max-height: 340px; overflow: auto; white-space: pre-wrap; overflow-wrap: anywhere; font: 12px/1.35 ui-monospace, "DejaVu Sans Mono", "Liberation Mono", monospace; }
.chip { display: inline-block; padding: 0 6px; border-radius: 3px; font-size: 11px; font-weight: 700; color: #fff; background: #6b7280; }
.chip.warn-bg { background: var(--warn); }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 4px; vertical-align: -1px; }
button.linkish { border: 0; background: none; padding: 0; color: #1f5fbf; cursor: pointer; font: inherit; text-align: left; text-decoration: underline; overflow-wrap: anywhere; }
`;

/** The page's script. */
export const timelineScript = String.raw`
(() => {
  "use strict";
  const SVG_NS = "http://www.w3.org/2000/svg";
  const PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f", "#ff9da7", "#86bcb6", "#bab0ac"];
  const WARN = "#c62828";
  const GUTTER = 290, AXIS = 42, PAD_L = 18, PAD_R = 210, SECTION = 28, STAGE_ROW = 30, BAR_H = 16;
  const NOTE_ROW = 20, MARK_ROW = 16, LANE_PAD = 9, GAP_BAND = 20, MAX_STACK = 8, R = 5, PREVIEW = 512;

  const data = JSON.parse(document.getElementById("corrbus-data").textContent);
  const timeline = data.timeline || {};
  const payloadSizes = data.payloadSizes || {};
  const correlations = timeline.correlations || [];
  const byId = new Map(correlations.map((c) => [c.correlationId, c]));

  // ---- model -------------------------------------------------------------

  function parseTime(text) {
    if (typeof text !== "string") return undefined;
    const m = /^(\d{4,}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(text);
    if (m === null) {
      const t = Date.parse(text);
      return Number.isNaN(t) ? undefined : t;
    }
    return Date.parse(m[1] + "Z") + (m[2] ? Number("0." + m[2]) * 1000 : 0);
  }

  function orderCorrelations() {
    const children = new Map();
    for (const c of correlations) {
      const parent = c.parentCorrelationId;
      if (parent !== undefined && byId.has(parent)) {
        if (!children.has(parent)) children.set(parent, []);
        children.get(parent).push(c);
      }
    }
    const seen = new Set();
    const out = [];
    const visit = (c) => {
      if (seen.has(c.correlationId)) return;
      seen.add(c.correlationId);
      out.push(c);
      for (const child of children.get(c.correlationId) || []) visit(child);
    };
    for (const c of correlations) if (c.parentCorrelationId === undefined || !byId.has(c.parentCorrelationId)) visit(c);
    for (const c of correlations) visit(c);
    return out;
  }

  const ordered = orderCorrelations();
  const colorOf = new Map(ordered.map((c, i) => [c.correlationId, PALETTE[i % PALETTE.length]]));
  const indexOf = new Map(ordered.map((c, i) => [c.correlationId, i]));

  const lanes = [];
  const laneByKey = new Map();
  function laneFor(name, pid, verified) {
    const key = name + "\u0000" + pid;
    let lane = laneByKey.get(key);
    if (lane === undefined) {
      lane = { key, name, pid, verified: false, events: [], gaps: [] };
      laneByKey.set(key, lane);
      lanes.push(lane);
    }
    if (verified) lane.verified = true;
    return lane;
  }

  const events = (timeline.events || []).map((raw) => {
    const meta = raw.correlationMetadata || {};
    const publisher = raw.publisher || {};
    const pid = publisher.pid !== undefined ? publisher.pid : raw.publisherProcessId || 0;
    const ev = {
      raw,
      meta,
      id: String(raw.eventId || "0"),
      t: parseTime(raw.receivedAt),
      correlationId: meta.correlationId || "",
      seq: Number(meta.sequenceNumber || 0),
      final: meta.final === true,
      control: typeof raw.topic === "string" && raw.topic.startsWith("control."),
      lane: laneFor(meta.sourceProcess || "", pid, publisher.verified === true),
    };
    if (ev.t === undefined) ev.t = parseTime(raw.timestamp);
    ev.lane.events.push(ev);
    return ev;
  });
  const eventById = new Map(events.map((ev) => [ev.id, ev]));
  for (const c of correlations) for (const p of c.participants || []) laneFor(p.sourceProcess || "", p.pid || 0, p.verified === true);

  // Gaps: drawn on the lane of the publisher's event right after the gap.
  const gaps = [];
  for (const c of ordered) {
    for (const g of c.gaps || []) {
      const first = Number(g.firstMissing || 0), last = Number(g.lastMissing || 0);
      const mine = events.filter((ev) => ev.correlationId === c.correlationId && (ev.meta.sourceProcess || "") === (g.sourceProcess || ""));
      let before, after;
      for (const ev of mine) {
        if (ev.seq > 0 && ev.seq < first && (before === undefined || ev.seq > before.seq)) before = ev;
        if (ev.seq > last && (after === undefined || ev.seq < after.seq)) after = ev;
      }
      const gap = { correlation: c, source: g.sourceProcess || "", first, last, before, after, lane: (after || before || {}).lane };
      gap.key = c.correlationId + "/" + gap.source + "/" + first + "-" + last;
      gaps.push(gap);
      if (gap.lane) gap.lane.gaps.push(gap);
    }
  }

  let t0 = Infinity, t1 = -Infinity;
  const see = (t) => {
    if (t === undefined) return;
    if (t < t0) t0 = t;
    if (t > t1) t1 = t;
  };
  for (const ev of events) see(ev.t);
  for (const c of correlations) {
    for (const s of c.stages || []) {
      see(parseTime(s.firstEventAt));
      see(parseTime(s.lastEventAt));
    }
  }
  if (t0 === Infinity) { t0 = 0; t1 = 0; }
  const span = Math.max(t1 - t0, 0.001);

  // ---- formatting --------------------------------------------------------

  function formatDuration(ms) {
    const abs = Math.abs(ms);
    if (abs === 0) return "0 ms";
    if (abs < 1) return trim(ms * 1000, abs * 1000 < 10 ? 2 : 0) + " µs";
    if (abs < 1000) return trim(ms, abs < 10 ? 3 : abs < 100 ? 2 : 1) + " ms";
    if (abs < 60000) return trim(ms / 1000, 3) + " s";
    const minutes = Math.floor(abs / 60000);
    return (ms < 0 ? "-" : "") + minutes + " min " + trim((abs - minutes * 60000) / 1000, 1) + " s";
  }
  function trim(value, digits) {
    return String(Number(value.toFixed(digits)));
  }
  function relative(t) {
    return t === undefined ? "?" : "+" + formatDuration(t - t0);
  }
  function shortId(id) {
    return id ? id.slice(0, 8) : "(none)";
  }
  function statusName(status) {
    return String(status || "COMPLETION_STATUS_UNSPECIFIED").replace("COMPLETION_STATUS_", "").toLowerCase();
  }
  function ellipsis(text, max) {
    return text.length > max ? text.slice(0, max - 1) + "…" : text;
  }
  function laneTitle(lane) {
    return (lane.name || "(no source_process)") + "  pid " + lane.pid + (lane.verified ? " (kernel-verified)" : " (stated)");
  }

  function niceStep(raw) {
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    const unit = raw / power;
    return (unit < 1.5 ? 1 : unit < 3.5 ? 2 : unit < 7.5 ? 5 : 10) * power;
  }

  // ---- DOM helpers (text only, never markup) -----------------------------

  function svg(tag, attrs, parent) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const name in attrs) if (attrs[name] !== undefined) node.setAttribute(name, String(attrs[name]));
    if (parent) parent.appendChild(node);
    return node;
  }
  function svgText(parent, x, y, text, attrs) {
    const node = svg("text", Object.assign({ x, y }, attrs || {}), parent);
    node.textContent = text;
    return node;
  }
  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const name in attrs || {}) if (attrs[name] !== undefined) node.setAttribute(name, String(attrs[name]));
    for (const child of children || []) if (child !== undefined && child !== null) node.append(child);
    return node;
  }
  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  // ---- page skeleton -----------------------------------------------------

  const body = document.body;
  const header = el("header");
  const title = el("h1", { id: "title" }, [data.title || "corrbus timeline"]);
  const rootId = (ordered.find((c) => (c.depth || 0) === 0) || ordered[0] || {}).rootCorrelationId || "";
  const facts = [
    "root " + (rootId || "(unknown)"),
    correlations.length + (correlations.length === 1 ? " correlation" : " correlations"),
    events.length + (events.length === 1 ? " event" : " events"),
    lanes.length + (lanes.length === 1 ? " process" : " processes"),
    "span " + formatDuration(t1 - t0),
  ];
  if (events.length > 0) facts.push("first event " + new Date(t0).toISOString());
  header.append(title, el("div", { class: "meta", id: "summary" }, [facts.join(" · ")]));
  if (timeline.truncated) {
    header.append(el("div", { class: "banner", id: "truncated" }, ["The broker cut this timeline short (limit reached): later events are not shown."]));
  }
  const zoom = el("select", { id: "zoom", "aria-label": "zoom" });
  for (const factor of [1, 2, 4, 8, 16, 32, 64]) zoom.append(el("option", { value: factor }, [factor === 1 ? "fit" : factor + "×"]));
  header.append(el("div", { class: "toolbar" }, [el("label", { class: "zoom" }, ["zoom ", zoom]), legend()]));

  const main = el("main");
  const chart = el("div", { id: "chart" });
  const gutterWrap = el("div", { id: "gutter-wrap" });
  const plotWrap = el("div", { id: "plot-wrap" });
  const gutter = svg("svg", { id: "gutter", class: "gutter", width: GUTTER });
  const plot = svg("svg", { id: "plot" });
  gutterWrap.append(gutter);
  plotWrap.append(plot);
  chart.append(gutterWrap, plotWrap);
  const details = el("aside", { id: "details", "aria-live": "polite" });
  main.append(chart, details);
  const tooltip = el("div", { id: "tooltip", hidden: "" });
  body.append(header, main, tooltip);

  function legend() {
    const box = el("div", { class: "legend" });
    const item = (label, draw) => {
      const icon = svg("svg", { width: 30, height: 14, "aria-hidden": "true" });
      draw(icon);
      box.append(el("span", {}, [icon, label]));
    };
    item("stage, complete", (s) => svg("rect", { x: 1, y: 3, width: 28, height: 9, fill: PALETTE[0], stroke: "#2c4a6b" }, s));
    item("stage, open", (s) => svg("rect", { x: 1, y: 3, width: 28, height: 9, fill: PALETTE[0], "fill-opacity": 0.25, stroke: PALETTE[0], "stroke-dasharray": "4 2", "stroke-width": 1.5 }, s));
    item("event", (s) => markShape(s, 15, 7, PALETTE[0], "event"));
    item("final event", (s) => markShape(s, 15, 7, PALETTE[0], "final"));
    item("task (control.*)", (s) => markShape(s, 15, 7, PALETTE[0], "control"));
    item("parent → child", (s) => {
      svg("path", { d: "M2 2 V11 H26", class: "link", "marker-end": "url(#arrow-legend)" }, s);
      arrowMarker(s, "arrow-legend");
    });
    item("orphan step", (s) => svg("rect", { x: 1, y: 2, width: 28, height: 11, fill: "#fdecea", stroke: WARN }, s));
    item("sequence gap", (s) => {
      svg("path", { d: "M3 11 V5 H27 V11", class: "bracket", stroke: WARN, fill: "none", "stroke-width": 1.6, "stroke-dasharray": "3 2" }, s);
    });
    return box;
  }

  function arrowMarker(parent, id) {
    const defs = svg("defs", {}, parent);
    const marker = svg("marker", { id, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, defs);
    svg("path", { d: "M0 0 L10 5 L0 10 z", fill: "#56606e" }, marker);
  }

  function markShape(parent, x, y, color, kind) {
    if (kind === "final") {
      return svg("path", { class: "shape", d: "M" + x + " " + (y - 7) + " L" + (x + 7) + " " + y + " L" + x + " " + (y + 7) + " L" + (x - 7) + " " + y + " Z", fill: color, stroke: "#1d2330", "stroke-width": 1.3 }, parent);
    }
    if (kind === "control") {
      return svg("path", { class: "shape", d: "M" + (x - 6) + " " + (y - 5) + " L" + (x + 6) + " " + (y - 5) + " L" + x + " " + (y + 6) + " Z", fill: "#fff", stroke: color, "stroke-width": 2 }, parent);
    }
    return svg("circle", { class: "shape", cx: x, cy: y, r: R, fill: color, stroke: "#fff", "stroke-width": 1 }, parent);
  }

  // ---- layout and drawing ------------------------------------------------

  let selected = null; // { kind: "event", id } or { kind: "stage", key }

  function render() {
    const factor = Number(zoom.value) || 1;
    const fit = Math.max(480, plotWrap.clientWidth || 900);
    const width = Math.round(fit * factor);
    const inner = width - PAD_L - PAD_R;
    const x = (t) => PAD_L + ((t === undefined ? t0 : t) - t0) / span * inner;

    // Rows of the "workflow steps" section.
    let y = AXIS;
    const stepsSection = y;
    y += SECTION;
    const blocks = [];
    for (const c of ordered) {
      const block = { c, top: y, rows: [] };
      if (c.orphan) {
        block.noteY = y;
        y += NOTE_ROW;
      }
      const stages = c.stages && c.stages.length > 0 ? c.stages : [null];
      for (const stage of stages) {
        block.rows.push({ stage, y });
        y += STAGE_ROW;
      }
      block.bottom = y;
      blocks.push(block);
    }
    y += 8;
    const lanesSection = y;
    y += SECTION;
    for (const lane of lanes) {
      lane.top = y;
      lane.band = lane.gaps.length > 0 ? GAP_BAND : 0;
      const ends = [];
      for (const ev of lane.events) {
        const ex = x(ev.t);
        let row = ends.findIndex((end) => ex - end >= 2 * R + 3);
        if (row === -1) {
          if (ends.length < MAX_STACK) {
            row = ends.length;
            ends.push(0);
          } else {
            row = ends.indexOf(Math.min.apply(null, ends));
          }
        }
        ends[row] = ex;
        ev.x = ex;
        ev.y = y + lane.band + LANE_PAD + row * MARK_ROW + MARK_ROW / 2;
      }
      lane.height = lane.band + LANE_PAD * 2 + Math.max(1, ends.length) * MARK_ROW;
      y += lane.height;
    }
    const height = y + 12;

    clear(gutter);
    clear(plot);
    gutter.setAttribute("height", height);
    plot.setAttribute("width", width);
    plot.setAttribute("height", height);
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
    lanes.forEach((lane, i) => {
      if (i % 2 === 1) {
        svg("rect", { class: "row-odd", x: 0, y: lane.top, width: GUTTER, height: lane.height }, backGutter);
        svg("rect", { class: "row-odd", x: 0, y: lane.top, width, height: lane.height }, back);
      }
    });

    drawAxis(x, inner, height);
    drawSection(stepsSection, "WORKFLOW STEPS", width, "stages as bars, first to last event");
    drawSection(lanesSection, "PROCESSES", width, "one lane per publisher (source_process + pid)");

    const linkLayer = svg("g", { class: "links" }, plot);
    const barLayer = svg("g", { class: "stages" }, plot);
    const blockById = new Map();
    for (const block of blocks) {
      blockById.set(block.c.correlationId, block);
      drawBlock(block, x, barLayer, width);
    }
    for (const block of blocks) {
      const parent = block.c.parentCorrelationId;
      if (parent !== undefined && blockById.has(parent)) drawLink(blockById.get(parent), block, x, linkLayer);
    }

    const gapLayer = svg("g", { class: "gaps" }, plot);
    const markLayer = svg("g", { class: "marks" }, plot);
    for (const lane of lanes) {
      drawLaneLabel(lane);
      for (const gap of lane.gaps) drawGap(gap, x, gapLayer);
      for (const ev of lane.events) drawMark(ev, markLayer);
    }
    applySelection();
  }

  function drawAxis(x, inner, height) {
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

  function drawSection(top, label, width, hint) {
    svg("line", { class: "section-line", x1: 0, x2: GUTTER, y1: top + 0.5, y2: top + 0.5 }, gutter);
    svg("line", { class: "section-line", x1: 0, x2: width, y1: top + 0.5, y2: top + 0.5 }, plot);
    svgText(gutter, 12, top + 18, label, { class: "section-label" });
    svgText(plot, PAD_L, top + 18, hint, { class: "muted" });
  }

  function badge(parent, x, y, text, color) {
    const g = svg("g", { class: "badge" }, parent);
    const rect = svg("rect", { x, y: y - 10, height: 14, fill: color }, g);
    const w = textWidth(svgText(g, x + 4, y + 1, text)) + 8;
    rect.setAttribute("width", w);
    return x + w + 4;
  }

  function textWidth(node) {
    const measured = node.getComputedTextLength ? node.getComputedTextLength() : 0;
    return measured > 0 ? measured : (node.textContent || "").length * 6.6;
  }

  // Dark text on light bars, white on dark ones.
  function textOn(hex) {
    const n = parseInt(hex.slice(1), 16);
    const linear = (v) => {
      const c = v / 255;
      return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
    };
    const luminance = 0.2126 * linear((n >> 16) & 255) + 0.7152 * linear((n >> 8) & 255) + 0.0722 * linear(n & 255);
    return luminance > 0.3 ? "#1d2330" : "#ffffff";
  }

  function drawBlock(block, x, layer, width) {
    const c = block.c;
    const color = colorOf.get(c.correlationId);
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
      const nx = x(parseTime(c.firstEventAt) !== undefined ? parseTime(c.firstEventAt) : t0);
      svg("line", { x1: nx, x2: nx, y1: block.noteY + 4, y2: firstRow + (STAGE_ROW - BAR_H) / 2, stroke: WARN, "stroke-width": 1.5, "stroke-dasharray": "3 2" }, note);
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
      const first = parseTime(stage.firstEventAt), last = parseTime(stage.lastEventAt);
      const complete = stage.completedAt !== undefined;
      const key = c.correlationId + "/" + stage.name;
      const g = svg("g", { class: "stage", "data-stage": key, "data-correlation": c.correlationId, "data-complete": complete, tabindex: 0, role: "button" }, layer);
      g.setAttribute("aria-label", "stage " + stage.name + " of " + c.correlationId);
      const x1 = x(first), x2 = Math.max(x(last), x1 + 3);
      const by = row.y + (STAGE_ROW - BAR_H) / 2;
      row.x1 = x1;
      row.x2 = x2;
      row.by = by;
      svg("rect", complete
        ? { class: "bar complete", x: x1, y: by, width: x2 - x1, height: BAR_H, rx: 3, fill: color, stroke: shade(color) }
        : { class: "bar open", x: x1, y: by, width: x2 - x1, height: BAR_H, rx: 3, fill: color, "fill-opacity": 0.25, stroke: color }, g);
      const text = (stage.name || "(no stage)") + " · " + formatDuration((last || 0) - (first || 0)) + " · " + String(stage.eventCount || 0) + " ev" + (complete ? " ✓" : " · open");
      const label = svgText(g, x1 + 6, by + BAR_H / 2 + 4, text);
      const w = textWidth(label);
      if (w + 12 <= x2 - x1) label.setAttribute("fill", complete ? textOn(color) : "#1d2330");
      else {
        label.setAttribute("class", "halo");
        if (x2 + 6 + w <= width - 4) label.setAttribute("x", x2 + 6);
        else {
          label.setAttribute("x", x1 - 6);
          label.setAttribute("text-anchor", "end");
        }
      }
    }
  }

  function shade(hex) {
    const n = parseInt(hex.slice(1), 16);
    const part = (v) => Math.round(v * 0.65).toString(16).padStart(2, "0");
    return "#" + part((n >> 16) & 255) + part((n >> 8) & 255) + part(n & 255);
  }

  function drawLink(parentBlock, childBlock, x, layer) {
    const child = childBlock.rows.find((row) => row.x1 !== undefined);
    if (child === undefined) return;
    const rows = parentBlock.rows.filter((row) => row.x1 !== undefined);
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
    const d = child.x1 - ax < 6
      ? "M" + ax + " " + (from.by + BAR_H) + " V" + (child.by - 1)
      : "M" + ax + " " + (from.by + BAR_H) + " V" + mid + " H" + (child.x1 - 1);
    const g = svg("g", { "data-link": parentBlock.c.correlationId + "/" + childBlock.c.correlationId }, layer);
    svg("path", { class: "link", d, "marker-end": "url(#arrow)" }, g);
  }

  function drawLaneLabel(lane) {
    const g = svg("g", { "data-lane": lane.key.replace("\u0000", "/") }, gutter);
    svg("title", {}, g).textContent = laneTitle(lane);
    const ly = lane.top + lane.band + LANE_PAD + MARK_ROW / 2 + 4;
    svgText(g, 12, ly, ellipsis(lane.name || "(no source_process)", 24), { class: "name" });
    svgText(g, 12 + 178, ly, "pid " + lane.pid + (lane.verified ? " ✓" : ""), { class: "muted" });
  }

  function drawGap(gap, x, layer) {
    const lane = gap.lane;
    const xs = [gap.before, gap.after].filter((ev) => ev !== undefined).map((ev) => ev.x);
    let a = Math.min.apply(null, xs), b = Math.max.apply(null, xs);
    if (b - a < 16) {
      const mid = (a + b) / 2;
      a = mid - 8;
      b = mid + 8;
    }
    const g = svg("g", { class: "gap", "data-gap": gap.key, "data-correlation": gap.correlation.correlationId }, layer);
    const top = lane.top + 5, bottom = lane.top + lane.band + LANE_PAD;
    svg("path", { class: "bracket", d: "M" + a + " " + bottom + " V" + (top + 4) + " H" + b + " V" + bottom }, g);
    const missing = gap.first === gap.last ? "seq " + gap.first : "seq " + gap.first + "–" + gap.last;
    svgText(g, b + 5, top + 9, "⚠ gap: " + missing + " missing", { class: "warn halo", "font-size": 11 });
  }

  function drawMark(ev, layer) {
    const color = colorOf.get(ev.correlationId) || "#6b7280";
    const g = svg("g", { class: "mark", "data-event-id": ev.id, "data-correlation": ev.correlationId, "data-final": ev.final, tabindex: 0, role: "button" }, layer);
    g.setAttribute("aria-label", "event " + ev.id + " " + (ev.raw.topic || ""));
    svg("circle", { cx: ev.x, cy: ev.y, r: 7.5, fill: "transparent" }, g);
    svg("circle", { class: "ring", cx: ev.x, cy: ev.y, r: 9.5 }, g);
    markShape(g, ev.x, ev.y, color, ev.final ? "final" : ev.control ? "control" : "event");
  }

  // ---- details panel -----------------------------------------------------

  function kv(pairs) {
    const dl = el("dl", { class: "kv" });
    for (const pair of pairs) if (pair[1] !== undefined) dl.append(el("dt", {}, [pair[0]]), el("dd", {}, [pair[1]]));
    return dl;
  }

  function correlationButton(id) {
    if (!id) return "(none)";
    if (!byId.has(id)) return id + " (never seen)";
    const button = el("button", { class: "linkish", type: "button" }, [id]);
    button.addEventListener("click", () => select({ kind: "correlation", id }));
    return button;
  }

  function decodeBase64(text) {
    const binary = atob(text || "");
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }

  function previewText(bytes, whole) {
    const decoder = new TextDecoder("utf-8", { fatal: true });
    // A preview cut inside a multi-byte character: drop its first bytes.
    for (let cut = 0; cut <= (whole ? 0 : 3); cut++) {
      try {
        const text = decoder.decode(bytes.subarray(0, bytes.length - cut));
        return /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text) ? undefined : text;
      } catch (error) {
        // not UTF-8 (yet)
      }
    }
    return undefined;
  }

  function hexDump(bytes) {
    const lines = [];
    for (let offset = 0; offset < bytes.length; offset += 16) {
      const chunk = Array.from(bytes.subarray(offset, offset + 16));
      const hex = chunk.map((b) => b.toString(16).padStart(2, "0")).join(" ");
      const ascii = chunk.map((b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : ".")).join("");
      lines.push(offset.toString(16).padStart(4, "0") + "  " + hex.padEnd(47, " ") + "  " + ascii);
    }
    return lines.join("\n");
  }

  function payloadPreview(ev) {
    const size = Number(payloadSizes[ev.id] !== undefined ? payloadSizes[ev.id] : 0);
    const bytes = decodeBase64(ev.raw.payload).subarray(0, PREVIEW);
    const whole = bytes.length >= size;
    const type = ev.raw.contentType || "";
    const about = size + (size === 1 ? " byte" : " bytes") + (type ? " · " + type : "");
    if (size === 0) return [el("div", { class: "muted", id: "payload-kind" }, [bytes.length === 0 && ev.raw.payload === undefined ? "empty (or left out of the timeline)" : "empty"])];
    let text = previewText(bytes, whole);
    let kind;
    if (text !== undefined) {
      kind = "UTF-8 text";
      if (whole && (/json/.test(type) || /^\s*[\[{]/.test(text))) {
        try {
          text = JSON.stringify(JSON.parse(text), null, 2);
          kind = "JSON";
        } catch (error) {
          // shown as it is
        }
      }
    } else {
      kind = "hex";
      text = hexDump(bytes);
    }
    const shown = whole ? "" : " · first " + bytes.length + " bytes shown";
    return [el("div", { class: "muted", id: "payload-kind" }, [kind + " · " + about + shown]), el("pre", { class: "payload", id: "detail-payload" }, [text])];
  }

  function showEvent(ev) {
    const raw = ev.raw, meta = ev.meta, publisher = raw.publisher || {};
    clear(details);
    const pid = String(publisher.pid !== undefined ? publisher.pid : raw.publisherProcessId || 0) + (publisher.verified ? " (kernel-verified)" : " (stated)");
    details.append(
      el("h2", {}, ["Event " + ev.id]),
      kv([
        ["event_id", ev.id],
        ["topic", raw.topic || ""],
        ["received_at", (raw.receivedAt || "?") + "  (" + relative(ev.t) + ")"],
        ["timestamp", raw.timestamp],
        ["source", meta.sourceProcess || "(none)"],
        ["pid", pid],
        ["stated pid", publisher.statedPidMismatch ? String(publisher.statedPid || 0) + " (differs from the kernel's!)" : undefined],
        ["uid / gid", publisher.uid !== undefined ? publisher.uid + " / " + (publisher.gid !== undefined ? publisher.gid : "?") : undefined],
        ["correlation", correlationButton(meta.correlationId)],
        ["parent", meta.parentCorrelationId !== undefined ? correlationButton(meta.parentCorrelationId) : undefined],
        ["stage", meta.workflowStage || "(none)"],
        ["sequence", String(meta.sequenceNumber || 0)],
        ["final", meta.final ? "yes: this publisher's last event here" : "no"],
      ]),
    );
    const tags = meta.correlationTags || {};
    const keys = Object.keys(tags).sort();
    details.append(el("h3", {}, ["Tags (" + keys.length + ")"]));
    if (keys.length === 0) details.append(el("div", { class: "muted", id: "detail-tags" }, ["none"]));
    else {
      const table = el("table", { id: "detail-tags" }, [el("tr", {}, [el("th", {}, ["key"]), el("th", {}, ["value"])])]);
      for (const key of keys) table.append(el("tr", {}, [el("td", { class: "mono" }, [key]), el("td", { class: "mono" }, [tags[key]])]));
      details.append(table);
    }
    details.append(el("h3", {}, ["Payload"]), ...payloadPreview(ev));
  }

  function showCorrelation(id, stageName) {
    const c = byId.get(id);
    clear(details);
    if (c === undefined) return;
    const swatch = el("span", { class: "swatch" });
    swatch.style.background = colorOf.get(id);
    details.append(
      el("h2", {}, [swatch, stageName !== undefined ? "Stage " + stageName : "Correlation"]),
      kv([
        ["correlation", c.correlationId],
        ["parent", c.parentCorrelationId !== undefined ? correlationButton(c.parentCorrelationId) : "(root step)"],
        ["orphan", c.orphan ? "yes: its parent was never seen by the broker" : undefined],
        ["root", c.rootCorrelationId],
        ["depth", String(c.depth || 0)],
        ["status", statusName(c.status)],
        ["events", String(c.totalEvents || 0)],
        ["first event", c.firstEventAt ? c.firstEventAt + "  (" + relative(parseTime(c.firstEventAt)) + ")" : undefined],
        ["last event", c.lastEventAt ? c.lastEventAt + "  (" + relative(parseTime(c.lastEventAt)) + ")" : undefined],
        ["completed", c.completedAt],
      ]),
    );
    const stageTable = el("table", {}, [el("tr", {}, ["stage", "span", "events", "state"].map((h) => el("th", {}, [h])))]);
    for (const s of c.stages || []) {
      const from = parseTime(s.firstEventAt), to = parseTime(s.lastEventAt);
      stageTable.append(el("tr", {}, [
        el("td", {}, [s.name || ""]),
        el("td", {}, [relative(from) + " · " + formatDuration((to || 0) - (from || 0))]),
        el("td", {}, [String(s.eventCount || 0)]),
        el("td", {}, [s.completedAt ? "complete" : "open"]),
      ]));
    }
    details.append(el("h3", {}, ["Stages"]), stageTable);
    const people = el("table", {}, [el("tr", {}, ["process", "pid", "events", "last seq"].map((h) => el("th", {}, [h])))]);
    for (const p of c.participants || []) {
      people.append(el("tr", {}, [
        el("td", {}, [(p.sourceProcess || "(none)") + (p.finalSent ? " (final sent)" : "")]),
        el("td", {}, [String(p.pid || 0) + (p.verified ? " ✓" : "")]),
        el("td", {}, [String(p.eventCount || 0)]),
        el("td", {}, [String(p.lastSequenceNumber || 0)]),
      ]));
    }
    details.append(el("h3", {}, ["Participants"]), people);
    if ((c.gaps || []).length > 0) {
      details.append(el("h3", {}, ["Sequence gaps"]));
      for (const g of c.gaps) details.append(el("div", { class: "warn-text" }, ["⚠ " + (g.sourceProcess || "(none)") + " skipped " + (g.firstMissing === g.lastMissing ? "sequence number " + g.firstMissing : g.firstMissing + "–" + g.lastMissing)]));
    }
    if ((c.deliveries || []).length > 0) {
      const table = el("table", {}, [el("tr", {}, ["task delivered to", "pid", "state"].map((h) => el("th", {}, [h])))]);
      for (const d of c.deliveries) {
        table.append(el("tr", {}, [
          el("td", {}, [(d.subscriberName || "(unnamed)") + (d.queueGroup ? " [" + d.queueGroup + "]" : "")]),
          el("td", {}, [String(d.subscriberPid || 0)]),
          el("td", {}, [String(d.state || "").replace("DELIVERY_STATE_", "").toLowerCase()]),
        ]));
      }
      details.append(el("h3", {}, ["Deliveries"]), table);
    }
    const kids = (c.childCorrelationIds || []);
    if (kids.length > 0) {
      const list = el("div");
      for (const kid of kids) list.append(el("div", {}, [correlationButton(kid)]));
      details.append(el("h3", {}, ["Child steps"]), list);
    }
  }

  function showSummary() {
    clear(details);
    details.append(
      el("h2", {}, ["Workflow"]),
      kv([
        ["root", rootId || "(unknown)"],
        ["correlations", String(correlations.length)],
        ["orphans", String(correlations.filter((c) => c.orphan).length)],
        ["events", String(events.length) + (timeline.truncated ? " (truncated)" : "")],
        ["processes", String(lanes.length)],
        ["first event", events.length > 0 ? new Date(t0).toISOString() : "none"],
        ["span", formatDuration(t1 - t0)],
        ["gaps", String(gaps.length)],
        ["page written", data.generatedAt],
      ]),
      el("p", { class: "hint" }, ["Click an event mark for its tags and payload, a stage bar for its step. Hover to highlight a step's events."]),
    );
  }

  function select(what) {
    selected = what;
    if (what === null) showSummary();
    else if (what.kind === "event") showEvent(eventById.get(what.id));
    else showCorrelation(what.id, what.stage);
    applySelection();
  }

  function applySelection() {
    for (const node of plot.querySelectorAll(".selected")) node.classList.remove("selected");
    if (selected === null) return;
    for (const node of plot.querySelectorAll("[data-event-id], [data-stage]")) {
      const hit = selected.kind === "event"
        ? node.getAttribute("data-event-id") === selected.id
        : node.hasAttribute("data-stage") && node.getAttribute("data-correlation") === selected.id && (selected.stage === undefined || node.getAttribute("data-stage") === selected.id + "/" + selected.stage);
      if (hit) node.classList.add("selected");
    }
  }

  // ---- interaction -------------------------------------------------------

  function targetOf(event) {
    return event.target instanceof Element ? event.target.closest("[data-event-id], [data-stage], [data-gap], [data-orphan]") : null;
  }

  function activate(node) {
    if (node === null) return;
    if (node.hasAttribute("data-event-id")) select({ kind: "event", id: node.getAttribute("data-event-id") });
    else if (node.hasAttribute("data-stage")) {
      const key = node.getAttribute("data-stage");
      const id = node.getAttribute("data-correlation");
      select({ kind: "correlation", id, stage: key.slice(id.length + 1) });
    } else select({ kind: "correlation", id: node.getAttribute("data-correlation") });
  }

  function describe(node) {
    if (node.hasAttribute("data-event-id")) {
      const ev = eventById.get(node.getAttribute("data-event-id"));
      return "event " + ev.id + " · " + (ev.raw.topic || "") + "\n" + (ev.meta.sourceProcess || "(none)") + " · " + relative(ev.t) + (ev.final ? " · final" : "") + "\nstage " + (ev.meta.workflowStage || "(none)") + " · step " + shortId(ev.correlationId);
    }
    if (node.hasAttribute("data-stage")) {
      const c = byId.get(node.getAttribute("data-correlation"));
      return "stage " + node.getAttribute("data-stage").slice(c.correlationId.length + 1) + " of step " + shortId(c.correlationId) + " · " + statusName(c.status);
    }
    if (node.hasAttribute("data-gap")) {
      const gap = gaps.find((g) => g.key === node.getAttribute("data-gap"));
      return gap.source + " skipped sequence number" + (gap.first === gap.last ? " " + gap.first : "s " + gap.first + "–" + gap.last) + " in step " + shortId(gap.correlation.correlationId);
    }
    return "orphan step " + shortId(node.getAttribute("data-orphan")) + ": its parent was never seen by the broker";
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
    if (correlation !== null) for (const other of plot.querySelectorAll("[data-correlation]")) if (other.getAttribute("data-correlation") === correlation) other.classList.add("hl");
    if (node === null) {
      tooltip.hidden = true;
      return;
    }
    tooltip.textContent = describe(node);
    tooltip.hidden = false;
    const left = Math.min(event.clientX + 14, window.innerWidth - tooltip.offsetWidth - 8);
    const top = event.clientY + 16 + tooltip.offsetHeight > window.innerHeight ? event.clientY - tooltip.offsetHeight - 10 : event.clientY + 16;
    tooltip.style.left = Math.max(4, left) + "px";
    tooltip.style.top = Math.max(4, top) + "px";
  });
  plot.addEventListener("mouseleave", () => {
    tooltip.hidden = true;
    plot.classList.remove("focus");
  });
  zoom.addEventListener("change", render);
  let resizeTimer = 0;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(render, 100);
  });

  render();
  showSummary();
  document.documentElement.setAttribute("data-rendered", "true");
})();
`;
