import { reservedTagKey, reservedTagKeyReason } from "../core/validation/envelope-validation.js";
import { UsageError } from "./usage-error.js";

/** Options every client command takes, for `parseArgs`. */
export const commonOptions = {
  socket: { type: "string" },
  json: { type: "boolean", default: false },
  help: { type: "boolean", short: "h" },
} as const;

/** The help lines of `commonOptions`, shared by every client command's `--help`. */
export const commonHelp = `  --socket PATH       the broker's socket (default: CORRBUS_SOCKET, else the
                      broker's default path; corrbus socket prints it)
  --json              JSON lines with proto field names instead of text
  -h, --help          this text`;

/** A positive integer flag value ("--limit 50"). */
export function positiveInteger(flag: string, raw: string): number {
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value < 1) {
    throw new UsageError(`--${flag}: "${raw}" is not a positive integer`);
  }
  return value;
}

/** The largest value a uint64 field carries (20 digits reach past it). */
const maxUint64 = 2n ** 64n - 1n;

/** An event id flag value ("--from 1000"). */
export function eventId(flag: string, raw: string): bigint {
  if (!/^\d{1,20}$/.test(raw) || BigInt(raw) > maxUint64) throw new UsageError(`--${flag}: "${raw}" is not an event id (0 to ${maxUint64})`);
  return BigInt(raw);
}

/** A sequence number flag value ("--sequence 4"); 0 means "not numbered". */
export function sequenceNumber(flag: string, raw: string): bigint {
  if (!/^\d{1,20}$/.test(raw) || BigInt(raw) > maxUint64) throw new UsageError(`--${flag}: "${raw}" is not a sequence number (0, 1, 2, … up to ${maxUint64})`);
  return BigInt(raw);
}

/** Repeated `--tag key=value` flags → a tag map; the key must not be empty, the value may be. */
export function tagPairs(raw: string[]): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const pair of raw) {
    const equals = pair.indexOf("=");
    if (equals < 1) throw new UsageError(`--tag: "${pair}" is not key=value`);
    const key = pair.slice(0, equals);
    if (key === reservedTagKey) throw new UsageError(`--tag: ${reservedTagKeyReason}`);
    if (Object.hasOwn(tags, key)) throw new UsageError(`--tag: "${key}" given twice`);
    // defineProperty: a key such as "__proto__" is a tag like any other, not the object's prototype.
    Object.defineProperty(tags, key, { value: pair.slice(equals + 1), enumerable: true, writable: true, configurable: true });
  }
  return tags;
}

const durationUnits: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "500ms", "30s", "2m", "1h" → ms; a bare number means seconds. */
export function durationMs(flag: string, raw: string): number {
  const match = /^(\d+)(ms|s|m|h)?$/.exec(raw);
  if (match === null) throw new UsageError(`--${flag}: "${raw}" is not a duration such as 500ms, 30s, 2m or 1h`);
  return Number(match[1]) * durationUnits[match[2] ?? "s"];
}

/** An ISO 8601 time ("2024-05-01T10:00:00Z"); a date alone means its midnight UTC. */
export function isoTime(flag: string, raw: string): Date {
  const date = /^\d{4}-\d{2}-\d{2}/.test(raw) ? new Date(raw) : new Date(Number.NaN);
  if (Number.isNaN(date.getTime())) throw new UsageError(`--${flag}: "${raw}" is not an ISO 8601 time such as 2024-05-01T10:00:00Z`);
  return date;
}

/** Exactly the positionals a command wants: names them when missing, refuses extras. */
export function positionals(given: string[], names: string[], optional = 0): string[] {
  const required = names.length - optional;
  if (given.length < required) throw new UsageError(`missing ${names[given.length]}`);
  if (given.length > names.length) throw new UsageError(`unexpected argument "${given[names.length]}"`);
  return given;
}
