import { PALETTE, WARN } from "./colors.js";
import { el, svg } from "./dom-builders.js";
import { arrowMarker, markShape } from "./symbols.js";

/** The key to the chart's symbols, drawn with the chart's own shapes. */
export function legend(): HTMLDivElement {
  const box = el("div", { class: "legend" });
  const item = (label: string, draw: (icon: SVGSVGElement) => void): void => {
    const icon = svg("svg", { width: 30, height: 14, "aria-hidden": "true" });
    draw(icon);
    box.append(el("span", {}, [icon, label]));
  };
  item("stage, complete", (s) => svg("rect", { x: 1, y: 3, width: 28, height: 9, fill: PALETTE[0], stroke: "#2c4a6b" }, s));
  item("stage, open", (s) => {
    const open = { fill: PALETTE[0], "fill-opacity": 0.25, stroke: PALETTE[0], "stroke-dasharray": "4 2", "stroke-width": 1.5 };
    svg("rect", { x: 1, y: 3, width: 28, height: 9, ...open }, s);
  });
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
