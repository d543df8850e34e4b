/** One color per correlation, in workflow order; the palette repeats past ten steps. */
export const PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f", "#ff9da7", "#86bcb6", "#bab0ac"];

/** Orphans and sequence gaps: what an analyst must not miss. */
export const WARN = "#c62828";

/** Dark text on light bars, white on dark ones (by relative luminance). */
export function textOn(hex: string): string {
  const n = parseInt(hex.slice(1), 16);
  const linear = (v: number): number => {
    const c = v / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  const luminance = 0.2126 * linear((n >> 16) & 255) + 0.7152 * linear((n >> 8) & 255) + 0.0722 * linear(n & 255);
  return luminance > 0.3 ? "#1d2330" : "#ffffff";
}

/** A darker shade of `hex`: the outline of a completed stage's bar. */
export function shade(hex: string): string {
  const n = parseInt(hex.slice(1), 16);
  const part = (v: number): string =>
    Math.round(v * 0.65)
      .toString(16)
      .padStart(2, "0");
  return "#" + part((n >> 16) & 255) + part((n >> 8) & 255) + part(n & 255);
}
