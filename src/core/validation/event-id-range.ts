import { InvalidInputError } from "./invalid-input-error.js";

/**
 * The largest event id the broker assigns: 2^53 - 1. Ids are held as numbers
 * (exact up to here) in history, its indexes and the journal; at a million
 * events a second it takes 285 years to get here, and the broker refuses
 * publishes rather than assign a larger one.
 */
export const maxEventId = Number.MAX_SAFE_INTEGER;

/**
 * An event id from a request (a uint64 on the wire) as the number the broker
 * holds ids as. One no event can ever have is refused, naming the field and the
 * limit, instead of being rounded to a neighbouring id.
 */
export function eventIdFrom(value: bigint, field: string): number {
  if (value > BigInt(maxEventId)) {
    throw new InvalidInputError(field, `${value} exceeds the largest event id, ${maxEventId} (2^53-1)`);
  }
  return Number(value);
}
