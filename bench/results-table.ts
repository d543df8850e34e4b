import type { BenchConfig } from "./bench-config.js";
import type { FigureSet } from "./figure-set.js";
import { natsAsyncInFlight } from "./nats-jetstream-rate.js";

/** One line of the printed table. */
export interface TableRow {
  figure: string;
  measured: string;
  reference: string;
  ratio: string;
  target: string;
}

/**
 * The table of one run: figure | measured | same-run floor or reference |
 * ratio | target. Every ratio divides two figures of this run; a
 * figure whose phase failed shows as n/a.
 */
export function buildRows(figures: FigureSet, config: BenchConfig): TableRow[] {
  const v = (id: string) => figures.value(id);
  const lat = (id: string) => `p50 ${us(v(`${id}.p50`))}, p99 ${us(v(`${id}.p99`))}`;
  const latRate = (id: string) => `${lat(id)}, ${rate(v(`${id}.rate`), "calls/s")}`;
  const x = (numerator: string, denominator: string) => times(figures.ratio(numerator, denominator));
  const rows: TableRow[] = [];
  const add = (figure: string, measured: string, reference = "—", ratio = "—", target = "—") => rows.push({ figure, measured, reference, ratio, target });
  const bytes = v("floor.bytes");

  add(
    `Floor: raw Unix-socket echo, ${count(bytes)} B (encoded PublishRequest with metadata)`,
    latRate("floor.echo"),
    "(floor)",
    "—",
    "floor, reported every run",
  );
  add(`Floor: raw node:http2 POST of the same ${count(bytes)} B, one session`, latRate("floor.http2"), "(floor)", "—", "floor, reported every run");
  add(
    "Unary Publish, sequential, with correlation metadata (one HTTP/2 stream per call)",
    latRate("publish.unary.metadata"),
    `raw http2 POST p50 ${us(v("floor.http2.p50"))}`,
    x("publish.unary.metadata.p50", "floor.http2.p50"),
    "≤ 2× raw http2 POST",
  );
  add(
    "Unary Publish, sequential, with correlation metadata, taking turns with JetStream js.publish",
    latRate("nats.corrbus.unaryPublish"),
    `js.publish p50 ${us(v("nats.jetstream.publish.p50"))}`,
    x("nats.corrbus.unaryPublish.p50", "nats.jetstream.publish.p50"),
    "— (publish() is the acked path the targets table holds to 1×)",
  );
  add(
    "Publish, sequential, with correlation metadata (publish(): the client's shared PublishStream)",
    latRate("publish.sequential.metadata"),
    `raw echo p50 ${us(v("floor.echo.p50"))}`,
    x("publish.sequential.metadata.p50", "floor.echo.p50"),
    "as close as the socket allows; reported every run",
  );
  add("Publish, sequential, without metadata", latRate("publish.sequential.plain"));
  add(
    "Publish, sequential, a new child correlation per event",
    latRate("publish.sequential.newCorrelation"),
    `p50 without metadata ${us(v("publish.sequential.plain.p50"))}`,
    x("publish.sequential.newCorrelation.p50", "publish.sequential.plain.p50"),
    "≤ 10 % over plain Publish (targets table)",
  );
  add(
    "Correlation overhead, sequential (p50 with − without)",
    `${signed(v("publish.overhead.sequential.us"), " µs")} (${signed(v("publish.overhead.sequential.pct"), " %")})`,
    `p50 without metadata ${us(v("publish.sequential.plain.p50"))}`,
    x("publish.sequential.metadata.p50", "publish.sequential.plain.p50"),
    "≤ 2 %",
  );
  add(
    "Correlation overhead, sequential, two clients taking turns (each its own connection and correlation)",
    `${signed(v("publish.overhead.alternating.us"), " µs")} (${signed(v("publish.overhead.alternating.pct"), " %")})`,
    `p50 with ${us(v("publish.alternating.metadata.p50"))}, without ${us(v("publish.alternating.plain.p50"))}`,
    x("publish.alternating.metadata.p50", "publish.alternating.plain.p50"),
    "≤ 2 %",
  );
  add(
    `Publish, ${config.inFlight} calls in flight, with metadata`,
    `${rate(v("publish.inflight.metadata.rate"), "calls/s")} (overhead ${signed(v("publish.overhead.inflight.pct"), " %")} per call, median of ${config.inFlightBlocks} block pairs; middle half ${signed(v("publish.overhead.inflight.p25"), "")} to ${signed(v("publish.overhead.inflight.p75"), " %")})`,
    `without metadata ${rate(v("publish.inflight.plain.rate"), "calls/s")}`,
    x("publish.inflight.metadata.rate", "publish.inflight.plain.rate"),
    "overhead ≤ 2 %",
  );

  const [firstCollectors] = config.collectorCounts;
  for (const collectors of config.collectorCounts) {
    const id = `stream.collectors${collectors}`;
    const first = collectors === firstCollectors;
    add(
      `PublishStream, ${collectors} collector process${collectors === 1 ? "" : "es"}, batches of ${config.streamBatch}`,
      `${rate(v(`${id}.rate`), "events/s")} (${count(v(`${id}.events`))} events in ${ms(v(`${id}.elapsed`))})`,
      first ? "—" : `${firstCollectors} collector: ${rate(v(`stream.collectors${firstCollectors}.rate`), "events/s")}`,
      first ? "—" : x(`${id}.rate`, `stream.collectors${firstCollectors}.rate`),
      collectors === 4 ? "≥ 100 K events/s" : "—",
    );
  }

  const [firstSubscribers] = config.subscriberCounts;
  for (const subscribers of config.subscriberCounts) {
    const id = `subscribe.subscribers${subscribers}`;
    const losses = `cut-offs ${count(v(`${id}.cutOffs`))}, drops ${count(v(`${id}.dropped`))}`;
    if (subscribers === 1) {
      add(
        "Subscribe delivery to 1 subscriber process",
        `${rate(v(`${id}.perSubscriber.median`), "events/s")}; ${losses}`,
        `its stream publisher ${rate(v(`${id}.publisherRate`), "events/s")}`,
        x(`${id}.perSubscriber.median`, `${id}.publisherRate`),
        "≥ 150 K events/s; against NATS core pub→sub: targets table",
      );
      add(
        "Subscribe delivery to 1 subscriber process, replaying those events from history (not capped by one publisher's ingest)",
        `${rate(v("subscribe.replay1.rate"), "events/s")} (${count(v("subscribe.replay1.events"))} events)`,
        `live, its publisher ${rate(v(`${id}.publisherRate`), "events/s")}`,
        x("subscribe.replay1.rate", `${id}.publisherRate`),
        "≥ 150 K events/s (delivery, as above)",
      );
    } else {
      add(
        `Subscribe delivery to ${subscribers} subscriber processes`,
        `${rate(v(`${id}.perSubscriber.median`), "events/s")} per subscriber (median; slowest ${rate(v(`${id}.perSubscriber.min`), "events/s")}), ` +
          `${rate(v(`${id}.total`), "deliveries/s")} in all; ${losses}`,
        `its stream publisher ${rate(v(`${id}.publisherRate`), "events/s")}; ${firstSubscribers} subscriber ${rate(v(`subscribe.subscribers${firstSubscribers}.perSubscriber.median`), "events/s")}`,
        `${x(`${id}.perSubscriber.median`, `${id}.publisherRate`)} / ${x(`${id}.total`, `subscribe.subscribers${firstSubscribers}.perSubscriber.median`)} (total)`,
        "—",
      );
    }
  }

  // Durability: one broker per fsync policy, ratios to --fsync never of the same run.
  const base = "never";
  const journalTargets: Record<string, string> = {
    always: "at most two writes per event-loop turn; one fsync covers all written meanwhile",
    batch: "at most two writes per event-loop turn; fsync at most every few ms",
    never: "at most two writes per event-loop turn; no fsync",
  };
  for (const policy of config.fsyncPolicies) {
    const id = `durability.${policy}.publish`;
    const baseId = `durability.${base}.publish`;
    add(
      `Publish, sequential, with metadata, --fsync ${policy} (own broker; policies take turns)`,
      latRate(id),
      policy === base ? "(base of the --fsync ratios)" : `--fsync ${base}: p50 ${us(v(`${baseId}.p50`))}, ${rate(v(`${baseId}.rate`), "calls/s")}`,
      policy === base ? "—" : `${x(`${id}.p50`, `${baseId}.p50`)} p50 / ${x(`${id}.rate`, `${baseId}.rate`)} calls/s`,
      policy === "batch" ? "against JetStream js.publish: targets table" : "—",
    );
  }
  for (const policy of config.fsyncPolicies) {
    const id = `durability.${policy}.stream`;
    const baseId = `durability.${base}.stream`;
    add(
      `PublishStream, 1 collector process, batches of ${config.streamBatch}, --fsync ${policy}`,
      `${rate(v(`${id}.rate`), "events/s")} (${count(v(`${id}.events`))} events in ${ms(v(`${id}.elapsed`))})`,
      policy === base ? "(base of the --fsync ratios)" : `--fsync ${base}: ${rate(v(`${baseId}.rate`), "events/s")}`,
      policy === base ? "—" : x(`${id}.rate`, `${baseId}.rate`),
    );
  }
  for (const policy of config.fsyncPolicies) {
    const journal = (kind: string) => {
      const id = `durability.${policy}.${kind}.journal`;
      const fsyncs = v(`${id}.fsyncs`);
      return {
        measured: `${perOp(v(`${id}.recordsPerWrite`))} / ${fsyncs === 0 ? "no fsync" : perOp(v(`${id}.recordsPerFsync`))}`,
        counts: `${count(v(`${id}.records`))} records, ${count(v(`${id}.writes`))} writes, ${count(fsyncs)} fsyncs`,
      };
    };
    const publish = journal("publish");
    const stream = journal("stream");
    add(
      `Journal, --fsync ${policy}: records per write / per fsync (GetStats)`,
      `Publish sequential ${publish.measured}; PublishStream ${stream.measured}`,
      `Publish: ${publish.counts}; PublishStream: ${stream.counts}`,
      "—",
      journalTargets[policy] ?? "—",
    );
  }

  const [small, large] = config.findHistorySizes;
  const find = (size: number) => `find.history${size}`;
  add(`FindByTag, ${config.findLimit} results, ${count(small)} events, in-broker`, lat(`${find(small)}.inBroker`), "—", "—", "p50 ≤ 0.1 ms in-broker");
  add(
    `FindByTag, ${config.findLimit} results, ${count(small)} events, end-to-end`,
    lat(`${find(small)}.endToEnd`),
    `in-broker p50 ${us(v(`${find(small)}.inBroker.p50`))}`,
    x(`${find(small)}.endToEnd.p50`, `${find(small)}.inBroker.p50`),
    "< 10 ms",
  );
  add(
    `FindByTag, ${config.findLimit} results, ${count(v(`${find(large)}.stored`) ?? large)} events, in-broker`,
    lat(`${find(large)}.inBroker`),
    `${count(small)} events in-broker p50 ${us(v(`${find(small)}.inBroker.p50`))}`,
    x(`${find(large)}.inBroker.p50`, `${find(small)}.inBroker.p50`),
    large >= 1_000_000 ? "p50 ≤ 1 ms in-broker" : "(1 M in the full run: p50 ≤ 1 ms)",
  );
  add(
    `FindByTag, ${config.findLimit} results, ${count(v(`${find(large)}.stored`) ?? large)} events, end-to-end`,
    lat(`${find(large)}.endToEnd`),
    `in-broker p50 ${us(v(`${find(large)}.inBroker.p50`))}`,
    x(`${find(large)}.endToEnd.p50`, `${find(large)}.inBroker.p50`),
  );

  const [firstTimeline] = config.timelines;
  for (const timeline of config.timelines) {
    const id = `timeline.events${timeline.events}`;
    const first = timeline === firstTimeline;
    add(
      `GetTimeline, ${count(timeline.events)}-event workflow, in-broker`,
      lat(`${id}.inBroker`),
      first ? "—" : `${count(firstTimeline.events)}-event in-broker p50 ${us(v(`timeline.events${firstTimeline.events}.inBroker.p50`))}`,
      first ? "—" : x(`${id}.inBroker.p50`, `timeline.events${firstTimeline.events}.inBroker.p50`),
      timeline.events === 1_000 ? "p50 ≤ 2 ms in-broker" : "—",
    );
    add(
      `GetTimeline, ${count(timeline.events)}-event workflow, end-to-end`,
      lat(`${id}.endToEnd`),
      `in-broker p50 ${us(v(`${id}.inBroker.p50`))}`,
      x(`${id}.endToEnd.p50`, `${id}.inBroker.p50`),
      timeline.events === 1_000 ? "< 100 ms" : "—",
    );
  }

  for (const events of config.memorySizes) {
    const id = `memory.events${events}`;
    add(
      `Memory, ${count(events)} stored events (200 B payload, 3 tags), incl. indexes`,
      `${mb(v(`${id}.total`))} = heap ${mb(v(`${id}.heap`))} + external ${mb(v(`${id}.external`))}; ${count(v(`${id}.perEvent`))} B/event`,
      `history bytes_stored ${mb(v(`${id}.stored`))}`,
      x(`${id}.total`, `${id}.stored`),
      events === 10_000 ? "≤ 4 MB" : "—",
    );
  }

  add("WaitForResults wake-up, in-broker (publish → promise resolved)", lat("wait.inBroker"), "—", "—", "≤ 1 ms");
  add(
    "WaitForResults wake-up, end-to-end (answer − Publish start, 2 connections)",
    lat("wait.endToEnd"),
    `Publish p50 (sequential, with metadata) ${us(v("publish.sequential.metadata.p50"))}; the completing Publish itself p50 ${us(v("wait.publish.p50"))}`,
    `${x("wait.endToEnd.p50", "publish.sequential.metadata.p50")} / ${x("wait.endToEnd.p50", "wait.publish.p50")}`,
    "≤ 1 ms",
  );

  // Start-up: a new broker on the stopped query broker's data directory.
  const replayRecords = v("startup.replay.records");
  add(
    `Start-up journal replay: ${count(replayRecords)} records (${mb(v("startup.replay.journalBytes"))}, ${count(v("startup.replay.segments"))} segment${v("startup.replay.segments") === 1 ? "" : "s"}) of the query broker, after SIGTERM`,
    `${ms(v("startup.replay.duration"))}, ${rate(v("startup.replay.rate"), "records/s")} ("journal replayed" durationMs)`,
    `history load of that broker through PublishStream ${rate(v("history.load.rate"), "events/s")}`,
    x("startup.replay.rate", "history.load.rate"),
  );
  add(
    `Start-up with that journal: spawn → "listening"`,
    ms(v("startup.replay.listening")),
    `empty data directory: ${ms(v("startup.empty.listening"))} (median of 3); the replay itself ${ms(v("startup.replay.duration"))}`,
    x("startup.replay.listening", "startup.empty.listening"),
  );
  return rows;
}

/** Header of the main table. */
const tableHeader: TableRow = { figure: "figure", measured: "measured", reference: "same-run floor or reference", ratio: "ratio", target: "target" };

/** One line of the targets table: a corrbus figure beside NATS (or its own base) in the same run, its target, and whether it is met. */
export interface TargetRow {
  figure: string;
  corrbus: string;
  comparedWith: string;
  ratio: string;
  target: string;
  met: string;
}

/** Header of the targets table. */
export const targetHeader: TargetRow = {
  figure: "target (issue 15)",
  corrbus: "corrbus",
  comparedWith: "compared with (same run)",
  ratio: "ratio",
  target: "target",
  met: "met?",
};

/** A target on the ratio corrbus ÷ comparison: at most or at least `bound`. */
interface RatioTarget {
  direction: "≤" | "≥";
  bound: number;
}

/**
 * The table of issue 15's targets, every one a ratio of two figures of this
 * run: corrbus against NATS measured by the same bench (JetStream js.publish
 * and async publish, ordered-consumer replay, core pub→sub), a new correlation
 * per event against plain Publish, and query end-to-end against in-broker.
 * `natsSkipped` (why the NATS figures are missing) marks the NATS rows skipped
 * instead of "n/a".
 */
export function buildTargetRows(figures: FigureSet, config: BenchConfig, natsSkipped?: string): TargetRow[] {
  const v = (id: string) => figures.value(id);
  const rows: TargetRow[] = [];
  const add = (figure: string, corrbus: string, comparedWith: string, ratioOf: [string, string], target: RatioTarget, nats: boolean) => {
    const ratio = figures.ratio(...ratioOf);
    const skipped = nats && natsSkipped !== undefined && ratio === undefined;
    rows.push({
      figure,
      corrbus,
      comparedWith,
      ratio: times(ratio),
      target: `${target.direction} ${target.bound.toFixed(2)}×`,
      met: skipped ? `skipped: ${natsSkipped}` : verdict(ratio, target),
    });
  };
  const jsPublish = "JetStream js.publish, sequential, acked (file storage, default durability), taking turns";
  add(
    "Acked publish, sequential, TS client publish() (its shared PublishStream), --fsync batch: p50",
    `p50 ${us(v("nats.corrbus.publish.p50"))}`,
    `${jsPublish}: p50 ${us(v("nats.jetstream.publish.p50"))}`,
    ["nats.corrbus.publish.p50", "nats.jetstream.publish.p50"],
    { direction: "≤", bound: 1 },
    true,
  );
  add(
    "Acked publish, sequential, TS client publish(), --fsync batch: p99",
    `p99 ${us(v("nats.corrbus.publish.p99"))}`,
    `${jsPublish}: p99 ${us(v("nats.jetstream.publish.p99"))}`,
    ["nats.corrbus.publish.p99", "nats.jetstream.publish.p99"],
    { direction: "≤", bound: 1.5 },
    true,
  );
  const fanoutBounds: Record<number, number> = { 1: 1.5, 8: 1 };
  for (const subscribers of config.subscriberCounts) {
    const bound = fanoutBounds[subscribers];
    if (bound === undefined) continue;
    const id = `subscribe.subscribers${subscribers}.perSubscriber.median`;
    const natsId = `nats.core.subscribers${subscribers}.perSubscriber.median`;
    add(
      `Fan-out to ${subscribers} subscriber process${subscribers === 1 ? "" : "es"}, TS client, per subscriber (median)`,
      rate(v(id), "events/s"),
      `NATS core pub→sub with headers: ${rate(v(natsId), "msg/s")} (its publisher ${rate(v(`nats.core.subscribers${subscribers}.publisherRate`), "msg/s")})`,
      [id, natsId],
      { direction: "≥", bound },
      true,
    );
  }
  add(
    "Replay to a new subscriber process",
    `${rate(v("subscribe.replay1.rate"), "events/s")} (${count(v("subscribe.replay1.events"))} events)`,
    `JetStream ordered consumer: ${rate(v("nats.jetstream.replay.rate"), "msg/s")} (${count(v("nats.jetstream.replay.events"))} messages)`,
    ["subscribe.replay1.rate", "nats.jetstream.replay.rate"],
    { direction: "≥", bound: 1.5 },
    true,
  );
  const [firstCollectors] = config.collectorCounts;
  add(
    `PublishStream, ${firstCollectors} collector process, batches of ${config.streamBatch}`,
    rate(v(`stream.collectors${firstCollectors}.rate`), "events/s"),
    `JetStream js.publish, ${natsAsyncInFlight} in flight, 1 process: ${rate(v("nats.jetstream.async.rate"), "msg/s")}`,
    [`stream.collectors${firstCollectors}.rate`, "nats.jetstream.async.rate"],
    { direction: "≥", bound: 5 },
    true,
  );
  add(
    "A new correlation per event, sequential Publish p50",
    `p50 ${us(v("publish.sequential.newCorrelation.p50"))}`,
    `plain Publish (no metadata): p50 ${us(v("publish.sequential.plain.p50"))}`,
    ["publish.sequential.newCorrelation.p50", "publish.sequential.plain.p50"],
    { direction: "≤", bound: 1.1 },
    false,
  );
  add(
    "A repeated correlation, sequential Publish p50",
    `p50 ${us(v("publish.sequential.metadata.p50"))}`,
    `plain Publish (no metadata): p50 ${us(v("publish.sequential.plain.p50"))}`,
    ["publish.sequential.metadata.p50", "publish.sequential.plain.p50"],
    { direction: "≤", bound: 1.02 },
    false,
  );
  for (const size of config.findHistorySizes) {
    const id = `find.history${size}`;
    add(
      `FindByTag, ${config.findLimit} results, ${count(v(`${id}.stored`) ?? size)} events: end-to-end ÷ in-broker (binary client)`,
      `end-to-end p50 ${us(v(`${id}.endToEnd.p50`))}`,
      `in-broker p50 ${us(v(`${id}.inBroker.p50`))}`,
      [`${id}.endToEnd.p50`, `${id}.inBroker.p50`],
      { direction: "≤", bound: 3 },
      false,
    );
  }
  for (const timeline of config.timelines) {
    const id = `timeline.events${timeline.events}`;
    add(
      `GetTimeline, ${count(timeline.events)}-event workflow: end-to-end ÷ in-broker (binary client)`,
      `end-to-end p50 ${us(v(`${id}.endToEnd.p50`))}`,
      `in-broker p50 ${us(v(`${id}.inBroker.p50`))}`,
      [`${id}.endToEnd.p50`, `${id}.inBroker.p50`],
      { direction: "≤", bound: 3 },
      false,
    );
  }
  return rows;
}

function verdict(ratio: number | undefined, target: RatioTarget): string {
  if (ratio === undefined || !Number.isFinite(ratio)) return "n/a";
  const met = target.direction === "≤" ? ratio <= target.bound : ratio >= target.bound;
  return met ? "met" : "NOT met";
}

/** The rows as an aligned Markdown table (readable in a terminal and in docs/); the main table's header unless another is given. */
export function renderTable<Row extends TableRow | TargetRow>(rows: Row[], header: Row = tableHeader as Row): string {
  const keys = Object.keys(header) as (keyof Row & string)[];
  const all = [header, ...rows];
  const widths = keys.map((key) => Math.max(...all.map((row) => String(row[key]).length)));
  const line = (row: Row) => `| ${keys.map((key, index) => String(row[key]).padEnd(widths[index])).join(" | ")} |`;
  const rule = `|${widths.map((width) => "-".repeat(width + 2)).join("|")}|`;
  return [line(header), rule, ...rows.map(line)].join("\n");
}

/** A duration in µs as the tables print it (µs or ms); n/a when not measured. */
export function us(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return "n/a";
  if (value < 10) return `${value.toFixed(1)} µs`;
  if (value < 1000) return `${value.toFixed(0)} µs`;
  return `${(value / 1000).toFixed(2)} ms`;
}

/** A duration in ms printed in seconds; n/a when not measured. */
export function ms(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? "n/a" : `${(value / 1000).toFixed(2)} s`;
}

/** A rate with its unit, thousands as K; n/a when not measured. */
export function rate(value: number | undefined, unit: string): string {
  if (value === undefined || !Number.isFinite(value)) return "n/a";
  return value >= 1000 ? `${(value / 1000).toFixed(1)} K ${unit}` : `${value.toFixed(0)} ${unit}`;
}

function mb(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? "n/a" : `${value.toFixed(value < 10 ? 2 : 0)} MB`;
}

/** A count, round thousands and millions as K and M; n/a when not measured. */
export function count(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return "n/a";
  if (value >= 1_000_000 && value % 1_000_000 === 0) return `${value / 1_000_000} M`;
  if (value >= 1000 && value < 1_000_000 && value % 1000 === 0) return `${value / 1000} K`;
  return Math.round(value).toLocaleString("en-US");
}

function perOp(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? "n/a" : value.toFixed(value < 10 ? 2 : 1);
}

/** A ratio as N.NN×; n/a when not measured. */
export function times(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? "n/a" : `${value.toFixed(value < 10 ? 2 : 1)}×`;
}

function signed(value: number | undefined, unit: string): string {
  if (value === undefined || !Number.isFinite(value)) return "n/a";
  return `${value >= 0 ? "+" : "−"}${Math.abs(value).toFixed(1)}${unit}`;
}
