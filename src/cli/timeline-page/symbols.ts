import { svg, svgText, textWidth } from "./dom-builders.js";

/** The radius of an event's round mark. */
export const MARK_RADIUS = 5;
/** The radius of the area around a mark that answers a click: a little wider than the largest shape, the diamond. */
export const HIT_RADIUS = 7.5;

/** How an event is drawn: a plain event, a publisher's final event, or a task sent to collectors. */
export type MarkKind = "event" | "final" | "control";

/** An event's mark centred on (x, y): a circle, a diamond for a final event, a down triangle for a task. */
export function markShape(parent: Element, x: number, y: number, color: string, kind: MarkKind): SVGElement {
  if (kind === "final") {
    const d = "M" + x + " " + (y - 7) + " L" + (x + 7) + " " + y + " L" + x + " " + (y + 7) + " L" + (x - 7) + " " + y + " Z";
    return svg("path", { class: "shape", d, fill: color, stroke: "#1d2330", "stroke-width": 1.3 }, parent);
  }
  if (kind === "control") {
    const d = "M" + (x - 6) + " " + (y - 5) + " L" + (x + 6) + " " + (y - 5) + " L" + x + " " + (y + 6) + " Z";
    return svg("path", { class: "shape", d, fill: "#fff", stroke: color, "stroke-width": 2 }, parent);
  }
  return svg("circle", { class: "shape", cx: x, cy: y, r: MARK_RADIUS, fill: color, stroke: "#fff", "stroke-width": 1 }, parent);
}

/** The arrowhead of parent→child links, defined in `parent` under `id`. */
export function arrowMarker(parent: Element, id: string): void {
  const defs = svg("defs", {}, parent);
  const marker = svg("marker", { id, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, defs);
  svg("path", { d: "M0 0 L10 5 L0 10 z", fill: "#56606e" }, marker);
}

/** A label in a colored box, starting at x on baseline y; returns where the next one may start. */
export function badge(parent: Element, x: number, y: number, text: string, color: string): number {
  const g = svg("g", { class: "badge" }, parent);
  const rect = svg("rect", { x, y: y - 10, height: 14, fill: color }, g);
  const w = textWidth(svgText(g, x + 4, y + 1, text)) + 8;
  rect.setAttribute("width", String(w));
  return x + w + 4;
}
