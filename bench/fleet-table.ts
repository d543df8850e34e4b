import type { BenchConfig } from "./bench-config.js";
import type { FigureSet } from "./figure-set.js";
import { fillInFlight, queriedHost } from "./fleet-find-latency.js";
import { simulatedMatches } from "./fleet-simulated-hosts.js";
import { type TableRow, count, ms, rate, times, us } from "./results-table.js";

/**
 * The fleet rows (issue 16): forwarding from one host broker (live, its cost
 * to Publish, catch-up after a restart), a central broker's ingest, and
 * FindByTag on a central holding `fleetFindEvents` events of `fleetHosts`
 * simulated hosts. Every ratio divides two figures of this run. Without
 * nats-server the rows say `natsSkipped` instead of n/a.
 */
export function buildFleetRows(figures: FigureSet, config: BenchConfig, natsSkipped?: string): TableRow[] {
  const v = (id: string) => figures.value(id);
  const lat = (id: string) => `p50 ${us(v(`${id}.p50`))}, p99 ${us(v(`${id}.p99`))}`;
  const x = (numerator: string, denominator: string) => times(figures.ratio(numerator, denominator));
  const rows: TableRow[] = [];
  const add = (figure: string, measured: string, reference = "—", ratio = "—", target = "—") => rows.push({ figure, measured, reference, ratio, target });
  const skipped = natsSkipped === undefined ? undefined : `skipped: ${natsSkipped}`;
  const find = v("fleet.find.stored") ?? config.fleetFindEvents;
  const eventsPerHost = Math.floor(config.fleetFindEvents / config.fleetHosts);
  const matches = (host?: number) =>
    count(v(`fleet.find.${host === undefined ? "all" : "host"}.matches`) ?? simulatedMatches(config.fleetHosts, eventsPerHost, host));
  const quick = config.fleetFindEvents < 1_000_000 ? ` (--quick: ${count(config.fleetFindEvents)}; 1 M in the full run)` : "";

  add(
    `Forwarding from one host broker (serve --forward): ${count(config.fleetEvents)} events through the client's stream publisher, first publish → all acked by JetStream (GetStats forward.acked_event_id)`,
    skipped ??
      `${rate(v("fleet.forward.live.rate"), "events/s")} (${ms(v("fleet.forward.live.elapsed"))}; last JetStream ack ${ms(v("fleet.forward.live.tail"))} after the broker's)`,
    `publish into that broker ${rate(v("fleet.forward.live.publishRate"), "events/s")}; into one not forwarding ${rate(v("fleet.forward.off.publishRate"), "events/s")}`,
    `${x("fleet.forward.live.rate", "fleet.forward.live.publishRate")} / ${x("fleet.forward.live.rate", "fleet.forward.off.publishRate")}`,
  );
  add(
    'Forwarding catch-up: a journal written with forwarding off, restarted with --forward, "listening" → all acked',
    skipped ?? `${rate(v("fleet.catchUp.rate"), "events/s")} (${count(v("fleet.catchUp.events"))} events in ${ms(v("fleet.catchUp.elapsed"))})`,
    `live forwarding ${rate(v("fleet.forward.live.rate"), "events/s")}`,
    x("fleet.catchUp.rate", "fleet.forward.live.rate"),
  );
  add(
    "Publish, sequential, with correlation metadata, into a broker forwarding to JetStream (taking turns with one not forwarding)",
    skipped ?? `${lat("fleet.publish.forwarding")}, ${rate(v("fleet.publish.forwarding.rate"), "calls/s")}`,
    `not forwarding: ${lat("fleet.publish.plain")}`,
    `${x("fleet.publish.forwarding.p50", "fleet.publish.plain.p50")} p50 / ${x("fleet.publish.forwarding.p99", "fleet.publish.plain.p99")} p99`,
    "forwarding on ÷ off, reported",
  );
  add(
    'Central ingest (serve --ingest): the forwarded stream → stored, "listening" → GetStats ingest.stored reached the stream\'s count',
    skipped ?? `${rate(v("fleet.ingest.rate"), "events/s")} (${count(v("fleet.ingest.events"))} events in ${ms(v("fleet.ingest.elapsed"))})`,
    `live forwarding from one host ${rate(v("fleet.forward.live.rate"), "events/s")}`,
    x("fleet.ingest.rate", "fleet.forward.live.rate"),
  );
  add(
    `${config.fleetHosts} simulated hosts' events into JetStream as their forwarders publish them (${config.fleetFillProcesses} processes, ${fillInFlight} PubAcks awaited each)${quick}`,
    skipped ??
      `${rate(v("fleet.fill.rate"), "events/s")} (${count(v("fleet.fill.events"))} messages of ${count(v("fleet.fill.bytesPerEvent"))} B on average in ${ms(v("fleet.fill.elapsed"))})`,
  );
  add(
    `Central ingest of those ${count(v("fleet.fill.events") ?? config.fleetFindEvents)} events${quick}`,
    skipped ?? `${rate(v("fleet.hostsIngest.rate"), "events/s")} (${ms(v("fleet.hostsIngest.elapsed"))})`,
    `their fill ${rate(v("fleet.fill.rate"), "events/s")}; ingest of the forwarded stream ${rate(v("fleet.ingest.rate"), "events/s")}`,
    `${x("fleet.hostsIngest.rate", "fleet.fill.rate")} / ${x("fleet.hostsIngest.rate", "fleet.ingest.rate")}`,
  );
  add(
    `FindByTag on the central, ${count(find)} events from ${config.fleetHosts} hosts, a tag matching ${matches()} (1 %), page of ${config.findLimit}, end-to-end (bus.findByTag)${quick}`,
    skipped ?? lat("fleet.find.all.endToEnd"),
    `one host broker, ${count(v(`find.history${config.findHistorySizes[1]}.stored`))} events, same selectivity: p50 ${us(v(`find.history${config.findHistorySizes[1]}.endToEnd.p50`))}`,
    x("fleet.find.all.endToEnd.p50", `find.history${config.findHistorySizes[1]}.endToEnd.p50`),
  );
  add(
    `FindByTag on the central, same tag and host_id of one host: its ${matches(queriedHost)} events, end-to-end${quick}`,
    skipped ?? lat("fleet.find.host.endToEnd"),
    `without host_id p50 ${us(v("fleet.find.all.endToEnd.p50"))}`,
    x("fleet.find.host.endToEnd.p50", "fleet.find.all.endToEnd.p50"),
  );
  return rows;
}
