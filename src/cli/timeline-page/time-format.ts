/**
 * Milliseconds since the epoch of an RFC 3339 timestamp. Protobuf JSON writes up to nanoseconds, which
 * Date.parse would drop: the digits past the second are kept as a fraction of a millisecond, so events a few
 * microseconds apart still sort and space out on the axis.
 */
export function parseTime(text: string | undefined): number | undefined {
  if (typeof text !== "string") return undefined;
  const m = /^(\d{4,}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(text);
  if (m === null) {
    const t = Date.parse(text);
    return Number.isNaN(t) ? undefined : t;
  }
  return Date.parse(m[1] + "Z") + (m[2] ? Number("0." + m[2]) * 1000 : 0);
}

/** A duration in milliseconds as text, in the largest unit that keeps it readable (µs to minutes). */
export function formatDuration(ms: number): string {
  const abs = Math.abs(ms);
  if (abs === 0) return "0 ms";
  if (abs < 1) return trim(ms * 1000, abs * 1000 < 10 ? 2 : 0) + " µs";
  if (abs < 1000) return trim(ms, abs < 10 ? 3 : abs < 100 ? 2 : 1) + " ms";
  if (abs < 60000) return trim(ms / 1000, 3) + " s";
  const minutes = Math.floor(abs / 60000);
  return (ms < 0 ? "-" : "") + minutes + " min " + trim((abs - minutes * 60000) / 1000, 1) + " s";
}

/** At most `digits` decimals, without trailing zeros. */
function trim(value: number, digits: number): string {
  return String(Number(value.toFixed(digits)));
}

/** A time as an offset from the workflow's first event `t0`; "?" when the time is unknown. */
export function relativeTime(t: number | undefined, t0: number): string {
  return t === undefined ? "?" : "+" + formatDuration(t - t0);
}
