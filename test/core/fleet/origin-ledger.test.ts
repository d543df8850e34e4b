import { describe, expect, it } from "vitest";
import { OriginLedger, maxForwardInFlight, maxIngestAckPending, originWindow } from "../../../src/core/fleet/origin-ledger.js";

/** Feeds `ids` of one host in arrival order; answers those stored (not taken for copies). */
function ingest(ledger: OriginLedger, ids: readonly number[], host = "h"): number[] {
  const stored: number[] = [];
  for (const id of ids) {
    if (ledger.has(host, id)) {
      ledger.duplicate(host);
      continue;
    }
    ledger.record(host, id, 0, 0);
    stored.push(id);
  }
  return stored;
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, index) => from + index);

describe("the origin ledger", () => {
  it("should store each (host, origin id) once, whatever is delivered again", () => {
    const ledger = new OriginLedger(8);
    expect(ingest(ledger, [...range(1, 100), ...range(50, 100), 7])).toEqual(range(1, 100));
    expect(ledger.duplicates).toBe(52);
  });

  it("should tell hosts apart", () => {
    const ledger = new OriginLedger(8);
    expect(ingest(ledger, [1, 2], "a")).toEqual([1, 2]);
    expect(ingest(ledger, [1, 2], "b")).toEqual([1, 2]);
  });

  // The fleet test's counterexample: a central broker died holding unacknowledged messages; after its
  // restart JetStream delivered up to maxIngestAckPending newer ones first, then those again. With a
  // window sized for the forwarder's in-flight bound alone (512), 312 of one host's events were taken
  // for copies and never stored.
  it("should store events redelivered behind as many newer ones as may be unacknowledged", () => {
    const ledger = new OriginLedger(8);
    const late = range(301, 300 + maxIngestAckPending);
    const newer = range(301 + maxIngestAckPending, 300 + 2 * maxIngestAckPending);
    const stored = ingest(ledger, [...range(1, 300), ...newer, ...late]);
    expect(stored.length).toBe(300 + 2 * maxIngestAckPending);
    expect(ingest(ledger, late)).toEqual([]);
  });

  it("should store a publish sent again up to the forwarder's in-flight bound late, after a restart's gap of ids", () => {
    const ledger = new OriginLedger(8);
    const afterGap = range(65_537, 65_536 + maxForwardInFlight);
    expect(ingest(ledger, [...range(1, 10), ...afterGap.slice(1), afterGap[0]]).length).toBe(10 + maxForwardInFlight);
  });

  it("should take an id older than its window for a copy, and bound its memory per host", () => {
    const ledger = new OriginLedger(8);
    ingest(ledger, range(1, originWindow + 10));
    expect(ledger.has("h", 5)).toBe(true);
    expect(ledger.has("h", originWindow + 11)).toBe(false);
  });

  it("should forget the least recently active host past its bound, and count it", () => {
    const ledger = new OriginLedger(2);
    ingest(ledger, [1], "a");
    ingest(ledger, [1], "b");
    ingest(ledger, [2], "a");
    ingest(ledger, [1], "c");
    expect(ledger.list().map((host) => host.hostId)).toEqual(["a", "c"]);
    expect(ledger.forgotten).toBe(1);
  });
});
