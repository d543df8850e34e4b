import { PALETTE } from "./colors.js";
import type { EventJson, MetadataJson, PageData, TimelineJson, WorkflowStateJson } from "./page-data.js";
import { parseTime } from "./time-format.js";

/**
 * One source_process: a lane of the chart. Its processes (pids) share the lane, because a publisher run from the
 * shell is a new process per event, and a lane per pid turns a handful of collectors into a lane per command run.
 */
export interface Lane {
  /** The source_process ("" when none was given). */
  name: string;
  /** The pids that published under this name, in the order first seen. */
  pids: Set<number>;
  /** The pids the kernel vouched for (SO_PEERCRED) on at least one event or participant entry. */
  verifiedPids: Set<number>;
  events: TimelineEvent[];
  /** The gaps drawn on this lane. */
  gaps: Gap[];
  /** Where the last layout put the lane: its top, the band above its marks for gap brackets, its height. */
  top: number;
  band: number;
  height: number;
}

/** An event of the timeline, with what the chart needs of it at hand. */
export interface TimelineEvent {
  raw: EventJson;
  meta: MetadataJson;
  id: string;
  /** When the broker received it (else the publisher's timestamp), in ms since the epoch. */
  t: number | undefined;
  correlationId: string;
  /** sequence_number: a uint64, so a bigint (a double rounds past 2^53). */
  seq: bigint;
  /** The publisher's pid: the kernel's when it vouched for one, else the one stated. */
  pid: number;
  final: boolean;
  /** A task sent to collectors (a control.* topic). */
  control: boolean;
  lane: Lane;
  /** Where the last layout put its mark, and the x of its instant (the mark sits right of it when events share it). */
  x: number;
  y: number;
  tx: number;
}

/** A publisher's skipped sequence numbers in one correlation. */
export interface Gap {
  correlation: WorkflowStateJson;
  source: string;
  first: bigint;
  last: bigint;
  /** The publisher's events on either side of the gap, when the timeline holds them. */
  before: TimelineEvent | undefined;
  after: TimelineEvent | undefined;
  /** Where the gap is drawn: the lane of the event right after it (else right before it). */
  lane: Lane | undefined;
  /** correlation/source/first-last: the gap's data-gap attribute. */
  key: string;
}

/** Everything the page draws, derived once from the data block. */
export interface TimelineModel {
  timeline: TimelineJson;
  payloadSizes: Record<string, number>;
  correlations: WorkflowStateJson[];
  byId: Map<string, WorkflowStateJson>;
  /** Correlations depth first, each parent before its children; orphans where their subtree starts. */
  ordered: WorkflowStateJson[];
  colorOf: Map<string, string>;
  lanes: Lane[];
  events: TimelineEvent[];
  eventById: Map<string, TimelineEvent>;
  /** Each correlation's events that name no stage, by correlation id. */
  unstaged: Map<string, TimelineEvent[]>;
  gaps: Gap[];
  /** The workflow's root correlation id, "" when unknown. */
  rootId: string;
  /** The first and last instant of the timeline (ms since the epoch) and the span between, never zero. */
  t0: number;
  t1: number;
  span: number;
}

/** The model of the timeline in `data`. */
export function buildModel(data: PageData): TimelineModel {
  const timeline = data.timeline || {};
  const payloadSizes = data.payloadSizes || {};
  const correlations = timeline.correlations || [];
  const byId = new Map(correlations.map((c) => [c.correlationId, c]));

  const ordered = orderCorrelations(correlations, byId);
  const colorOf = new Map(ordered.map((c, i) => [c.correlationId, PALETTE[i % PALETTE.length]]));

  const lanes: Lane[] = [];
  const laneByName = new Map<string, Lane>();
  function laneFor(name: string, pid: number, verified: boolean): Lane {
    let lane = laneByName.get(name);
    if (lane === undefined) {
      lane = { name, pids: new Set(), verifiedPids: new Set(), events: [], gaps: [], top: 0, band: 0, height: 0 };
      laneByName.set(name, lane);
      lanes.push(lane);
    }
    lane.pids.add(pid);
    if (verified) lane.verifiedPids.add(pid);
    return lane;
  }

  const events = (timeline.events || []).map((raw): TimelineEvent => {
    const meta = raw.correlationMetadata || {};
    const publisher = raw.publisher || {};
    const pid = publisher.pid !== undefined ? publisher.pid : raw.publisherProcessId || 0;
    const ev: TimelineEvent = {
      raw,
      meta,
      id: String(raw.eventId || "0"),
      t: parseTime(raw.receivedAt),
      correlationId: meta.correlationId || "",
      seq: BigInt(meta.sequenceNumber || 0),
      pid,
      final: meta.final === true,
      control: typeof raw.topic === "string" && (raw.topic === "control" || raw.topic.startsWith("control.")),
      lane: laneFor(meta.sourceProcess || "", pid, publisher.verified === true),
      x: 0,
      y: 0,
      tx: 0,
    };
    if (ev.t === undefined) ev.t = parseTime(raw.timestamp);
    ev.lane.events.push(ev);
    return ev;
  });
  const eventById = new Map(events.map((ev) => [ev.id, ev]));
  const unstaged = new Map<string, TimelineEvent[]>();
  for (const ev of events) {
    if (ev.meta.workflowStage) continue;
    let mine = unstaged.get(ev.correlationId);
    if (mine === undefined) unstaged.set(ev.correlationId, (mine = []));
    mine.push(ev);
  }
  for (const c of correlations) for (const p of c.participants || []) laneFor(p.sourceProcess || "", p.pid || 0, p.verified === true);

  const gaps = findGaps(ordered, events);

  let t0 = Infinity,
    t1 = -Infinity;
  const see = (t: number | undefined): void => {
    if (t === undefined) return;
    if (t < t0) t0 = t;
    if (t > t1) t1 = t;
  };
  for (const ev of events) see(ev.t);
  for (const c of correlations) {
    for (const s of c.stages || []) {
      see(parseTime(s.firstEventAt));
      see(parseTime(s.lastEventAt));
    }
  }
  if (t0 === Infinity) {
    t0 = 0;
    t1 = 0;
  }
  const span = Math.max(t1 - t0, 0.001);
  const rootId = (ordered.find((c) => (c.depth || 0) === 0) ?? ordered[0])?.rootCorrelationId || "";

  return { timeline, payloadSizes, correlations, byId, ordered, colorOf, lanes, events, eventById, unstaged, gaps, rootId, t0, t1, span };
}

/** Parents before children; a correlation whose parent is not in the timeline starts a subtree of its own. */
function orderCorrelations(correlations: WorkflowStateJson[], byId: Map<string, WorkflowStateJson>): WorkflowStateJson[] {
  const children = new Map<string, WorkflowStateJson[]>();
  for (const c of correlations) {
    const parent = c.parentCorrelationId;
    if (parent !== undefined && byId.has(parent)) {
      let siblings = children.get(parent);
      if (siblings === undefined) children.set(parent, (siblings = []));
      siblings.push(c);
    }
  }
  const seen = new Set<string>();
  const out: WorkflowStateJson[] = [];
  const visit = (c: WorkflowStateJson): void => {
    if (seen.has(c.correlationId)) return;
    seen.add(c.correlationId);
    out.push(c);
    for (const child of children.get(c.correlationId) || []) visit(child);
  };
  for (const c of correlations) if (c.parentCorrelationId === undefined || !byId.has(c.parentCorrelationId)) visit(c);
  // Correlations caught in a parent cycle are reached from nowhere above.
  for (const c of correlations) visit(c);
  return out;
}

/** Every sequence gap of the workflow, each placed on the lane of the publisher's event right after it. */
function findGaps(ordered: WorkflowStateJson[], events: TimelineEvent[]): Gap[] {
  const gaps: Gap[] = [];
  for (const c of ordered) {
    for (const g of c.gaps || []) {
      const first = BigInt(g.firstMissing || 0),
        last = BigInt(g.lastMissing || 0);
      const mine = events.filter((ev) => ev.correlationId === c.correlationId && (ev.meta.sourceProcess || "") === (g.sourceProcess || ""));
      let before: TimelineEvent | undefined, after: TimelineEvent | undefined;
      for (const ev of mine) {
        if (ev.seq > 0n && ev.seq < first && (before === undefined || ev.seq > before.seq)) before = ev;
        if (ev.seq > last && (after === undefined || ev.seq < after.seq)) after = ev;
      }
      const source = g.sourceProcess || "";
      const key = c.correlationId + "/" + source + "/" + first + "-" + last;
      const gap: Gap = { correlation: c, source, first, last, before, after, lane: (after || before)?.lane, key };
      gaps.push(gap);
      if (gap.lane) gap.lane.gaps.push(gap);
    }
  }
  return gaps;
}
