import { describe, expect, it } from "vitest";
import { fullConfig, quickConfig } from "../../bench/bench-config.js";
import { FigureSet } from "../../bench/figure-set.js";
import { buildFleetRows } from "../../bench/fleet-table.js";
import { renderTable } from "../../bench/results-table.js";

const row = (figures: FigureSet, start: string, config = quickConfig, natsSkipped?: string) => {
  const found = buildFleetRows(figures, config, natsSkipped).find((candidate) => candidate.figure.startsWith(start));
  if (found === undefined) throw new Error(`no row "${start}"`);
  return found;
};

describe("the bench's fleet table", () => {
  it("should divide Publish with forwarding by Publish without, p50 and p99, from the same run's figures", () => {
    const figures = new FigureSet();
    figures.set("fleet.publish.forwarding.p50", 300, "µs", "on");
    figures.set("fleet.publish.plain.p50", 200, "µs", "off");
    figures.set("fleet.publish.forwarding.p99", 900, "µs", "on");
    figures.set("fleet.publish.plain.p99", 1000, "µs", "off");
    expect(row(figures, "Publish, sequential, with correlation metadata, into a broker forwarding").ratio).toBe("1.50× p50 / 0.90× p99");
  });

  it("should set the forwarding rate against the publish rates into both brokers", () => {
    const figures = new FigureSet();
    figures.set("fleet.forward.live.rate", 8000, "events/s", "forwarding");
    figures.set("fleet.forward.live.publishRate", 10_000, "events/s", "publish, forwarding");
    figures.set("fleet.forward.off.publishRate", 16_000, "events/s", "publish, not forwarding");
    expect(row(figures, "Forwarding from one host broker")).toMatchObject({ measured: expect.stringMatching(/^8\.0 K events\/s/), ratio: "0.80× / 0.50×" });
  });

  it("should say the rows were skipped, and why, without nats-server", () => {
    const rows = buildFleetRows(new FigureSet(), quickConfig, "nats-server not found");
    expect(rows.length).toBeGreaterThan(0);
    for (const one of rows) expect(one.measured).toBe("skipped: nats-server not found");
  });

  it("should name the quick run's smaller central history in its rows, and not the full run's", () => {
    expect(row(new FigureSet(), "FindByTag on the central", quickConfig).figure).toContain("--quick: 100 K; 1 M in the full run");
    expect(row(new FigureSet(), "FindByTag on the central", fullConfig).figure).not.toContain("--quick");
    expect(row(new FigureSet(), "FindByTag on the central", fullConfig).figure).toContain("1 M events from 100 hosts");
  });

  it("should render one aligned line per row", () => {
    const lines = renderTable(buildFleetRows(new FigureSet(), quickConfig)).split("\n");
    expect(new Set(lines.map((line) => line.length)).size).toBe(1);
  });
});
