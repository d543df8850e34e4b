import { describe, expect, it } from "vitest";
import { quickConfig } from "../../bench/bench-config.js";
import { FigureSet } from "../../bench/figure-set.js";
import { buildTargetRows, renderTable, targetHeader } from "../../bench/results-table.js";

const row = (figures: FigureSet, start: string, natsSkipped?: string) => {
  const found = buildTargetRows(figures, quickConfig, natsSkipped).find((candidate) => candidate.figure.startsWith(start));
  if (found === undefined) throw new Error(`no row "${start}"`);
  return found;
};

describe("the bench's targets table", () => {
  describe("a ratio against NATS", () => {
    it("should be met at its bound and NOT met past it (acked Publish p50 ≤ 1.0× JetStream)", () => {
      const figures = new FigureSet();
      figures.set("nats.jetstream.publish.p50", 200, "µs", "js.publish p50");
      figures.set("nats.corrbus.publish.p50", 200, "µs", "corrbus Publish p50");
      expect(row(figures, "Acked publish, sequential, TS client publish()")).toMatchObject({ ratio: "1.00×", target: "≤ 1.00×", met: "met" });
      figures.set("nats.corrbus.publish.p50", 201, "µs", "corrbus Publish p50");
      expect(row(figures, "Acked publish, sequential, TS client publish()").met).toBe("NOT met");
    });

    it("should read a rate target the other way (replay ≥ 1.5× the ordered consumer)", () => {
      const figures = new FigureSet();
      figures.set("nats.jetstream.replay.rate", 100_000, "events/s", "ordered consumer");
      figures.set("subscribe.replay1.rate", 149_000, "events/s", "corrbus replay");
      expect(row(figures, "Replay to a new subscriber process")).toMatchObject({ ratio: "1.49×", met: "NOT met" });
      figures.set("subscribe.replay1.rate", 150_000, "events/s", "corrbus replay");
      expect(row(figures, "Replay to a new subscriber process").met).toBe("met");
    });

    it("should say the NATS rows were skipped, and why, when nats-server is missing, and still judge the corrbus-only rows", () => {
      const figures = new FigureSet();
      figures.set("publish.sequential.plain.p50", 100, "µs", "plain");
      figures.set("publish.sequential.newCorrelation.p50", 109, "µs", "new correlation");
      expect(row(figures, "Fan-out to 1 subscriber process", "nats-server not found")).toMatchObject({
        ratio: "n/a",
        met: "skipped: nats-server not found",
      });
      expect(row(figures, "A new correlation per event", "nats-server not found")).toMatchObject({ ratio: "1.09×", met: "met" });
      expect(row(figures, "A repeated correlation", "nats-server not found").met).toBe("n/a");
    });
  });

  it("should render one aligned line per target under its own header", () => {
    const rows = buildTargetRows(new FigureSet(), quickConfig);
    const lines = renderTable(rows, targetHeader).split("\n");
    expect(lines).toHaveLength(rows.length + 2);
    expect(lines[0]).toContain("met?");
    expect(new Set(lines.map((line) => line.length)).size).toBe(1);
  });
});
