// Every string from the data (topics, tags, payloads, process names) goes into the page through these:
// as text nodes, textContent or attribute values, never as markup, because any publisher wrote it.

const SVG_NS = "http://www.w3.org/2000/svg";

/** Attributes of a new element; an undefined value leaves the attribute out. */
export type Attributes = Record<string, string | number | boolean | undefined>;

/** A child of a new element: a node, or a string inserted as text. Null and undefined are skipped. */
export type Child = Node | string | undefined | null;

/** A new SVG element with `attrs`, appended to `parent` when given. */
export function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Attributes, parent?: Element): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG_NS, tag);
  for (const name in attrs) if (attrs[name] !== undefined) node.setAttribute(name, String(attrs[name]));
  if (parent) parent.appendChild(node);
  return node;
}

/** A new SVG text element at (x, y) holding `text`, appended to `parent`. */
export function svgText(parent: Element, x: number, y: number, text: string, attrs?: Attributes): SVGTextElement {
  const node = svg("text", Object.assign({ x, y }, attrs || {}), parent);
  node.textContent = text;
  return node;
}

/** A new HTML element with `attrs` and `children`. */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs?: Attributes, children?: Child[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  const given = attrs || {};
  for (const name in given) if (given[name] !== undefined) node.setAttribute(name, String(given[name]));
  for (const child of children || []) if (child !== undefined && child !== null) node.append(child);
  return node;
}

/** Removes every child of `node`. */
export function clear(node: Node): void {
  while (node.firstChild) node.removeChild(node.firstChild);
}

/** The drawn width of an SVG text; an estimate from its length where the browser cannot measure it (not laid out). */
export function textWidth(node: SVGTextContentElement): number {
  const measured = typeof node.getComputedTextLength === "function" ? node.getComputedTextLength() : 0;
  return measured > 0 ? measured : (node.textContent || "").length * 6.6;
}
