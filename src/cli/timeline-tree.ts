import type { Timestamp } from "@bufbuild/protobuf/wkt";
import type { EventEnvelope } from "../../gen/corrbus/v1/envelope_pb.js";
import type { GetTimelineResponse } from "../../gen/corrbus/v1/service_pb.js";
import { CompletionStatus, DeliveryState, type WorkflowState } from "../../gen/corrbus/v1/workflow_pb.js";
import { enumText, formatDuration, formatTime, optionalMs, orDash, payloadPreview } from "./human-format.js";

/** Width of the label column of a correlation's detail lines. */
const labelWidth = 14;

/**
 * Draws a workflow as a tree for a terminal: one node per correlation (its
 * stages, participants, deliveries and events), children under parents,
 * times relative to the workflow's first event. Orphans (a parent the broker
 * never saw) are drawn as trees of their own, marked ORPHAN; sequence gaps
 * are marked GAP; events no longer in history are counted.
 */
export function renderTimelineTree(timeline: GetTimelineResponse): string {
  const layout = new TreeLayout(timeline);
  return layout.render();
}

class TreeLayout {
  private readonly byId = new Map<string, WorkflowState>();
  private readonly eventsOf = new Map<string, EventEnvelope[]>();
  private readonly startMs: number;
  private readonly rootId: string;
  private readonly widths: { id: number; at: number; topic: number; source: number; stage: number };
  private readonly lines: string[] = [];

  constructor(private readonly timeline: GetTimelineResponse) {
    for (const state of timeline.correlations) this.byId.set(state.correlationId, state);
    for (const event of timeline.events) {
      const id = event.correlationMetadata?.correlationId ?? "";
      const list = this.eventsOf.get(id) ?? [];
      list.push(event);
      this.eventsOf.set(id, list);
    }
    const times = [
      ...timeline.events.map((event) => optionalMs(event.receivedAt)),
      ...timeline.correlations.map((state) => optionalMs(state.firstEventAt)),
    ].filter((ms): ms is number => ms !== undefined);
    this.startMs = times.length === 0 ? 0 : Math.min(...times);
    this.rootId = timeline.correlations[0]?.rootCorrelationId ?? timeline.events[0]?.correlationMetadata?.rootCorrelationId ?? "";
    const width = (cells: string[]) => Math.max(0, ...cells.map((cell) => cell.length));
    this.widths = {
      id: width(timeline.events.map((event) => `#${event.eventId}`)),
      at: width(timeline.events.map((event) => this.at(event.receivedAt))),
      topic: width(timeline.events.map((event) => event.topic)),
      source: width(timeline.events.map((event) => orDash(event.correlationMetadata?.sourceProcess))),
      stage: width(timeline.events.map((event) => orDash(event.correlationMetadata?.workflowStage))),
    };
  }

  render(): string {
    this.summary();
    // Trees start at correlations whose parent is not in the workflow: the root, then orphans.
    const tops = this.timeline.correlations.filter((state) => state.parentCorrelationId === undefined || !this.byId.has(state.parentCorrelationId));
    tops.sort((a, b) => Number(b.correlationId === this.rootId) - Number(a.correlationId === this.rootId));
    if (!this.byId.has(this.rootId)) this.lines.push("", `root ${this.rootId}: no events of its own in history`);
    for (const state of tops) {
      this.lines.push("");
      if (state.correlationId !== this.rootId) {
        const why = state.orphan ? "was never seen by the broker" : "is not part of this workflow";
        this.lines.push(`ORPHAN  parent ${state.parentCorrelationId ?? "-"} ${why}`);
      }
      this.node(state, "", "", new Set());
    }
    const known = new Set(this.byId.keys());
    const stray = this.timeline.events.filter((event) => !known.has(event.correlationMetadata?.correlationId ?? ""));
    if (stray.length > 0) {
      this.lines.push("", "events of correlations the broker no longer describes");
      for (const event of stray) this.lines.push(`   ${this.eventText(event)}`);
    }
    if (this.timeline.truncated) this.lines.push("", "TRUNCATED  more events exist than were fetched");
    return `${this.lines.join("\n")}\n`;
  }

  private summary(): void {
    const correlations = this.timeline.correlations;
    const events = this.timeline.events;
    const endMs = Math.max(this.startMs, ...events.map((event) => optionalMs(event.receivedAt) ?? 0));
    const orphans = correlations.filter((state) => state.orphan).length;
    const gaps = correlations.reduce((sum, state) => sum + state.gaps.length, 0);
    const count = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`;
    this.lines.push(`workflow ${this.rootId}`);
    const span = events.length === 0 ? "" : `, ${formatTime(events[0].receivedAt)} → +${formatDuration(endMs - this.startMs)}`;
    this.lines.push(`${count(events.length, "event")} in ${count(correlations.length, "correlation")}${span}`);
    const marks = [orphans > 0 ? count(orphans, "orphan") : "", gaps > 0 ? count(gaps, "sequence gap") : ""].filter(Boolean);
    if (marks.length > 0) this.lines.push(marks.join(", "));
  }

  /** One correlation: its header after `lead`, details and children after `indent`. */
  private node(state: WorkflowState, lead: string, indent: string, visited: Set<string>): void {
    visited.add(state.correlationId);
    this.lines.push(`${lead}${this.header(state)}`);
    const children = state.childCorrelationIds
      .map((id) => this.byId.get(id))
      .filter((child): child is WorkflowState => child !== undefined && !visited.has(child.correlationId));
    const bar = children.length > 0 ? "│  " : "   ";
    for (const [label, text] of this.details(state)) {
      this.lines.push(`${indent}${bar}${label.padEnd(labelWidth)}${text}`.trimEnd());
    }
    children.forEach((child, index) => {
      const last = index === children.length - 1;
      this.node(child, `${indent}${last ? "└─ " : "├─ "}`, `${indent}${last ? "   " : "│  "}`, visited);
    });
  }

  private header(state: WorkflowState): string {
    const stages = state.stages.map((stage) => stage.name).join(" → ") || "-";
    const status = state.status === CompletionStatus.UNSPECIFIED ? "untracked" : enumText(CompletionStatus, state.status);
    const first = optionalMs(state.firstEventAt);
    const last = optionalMs(state.lastEventAt);
    const span =
      first === undefined || last === undefined ? "" : `  ${this.at(state.firstEventAt)} → ${this.at(state.lastEventAt)} (${formatDuration(last - first)})`;
    const marks = [state.orphan ? "  ORPHAN" : "", state.gaps.length > 0 ? "  GAP" : ""].join("");
    const events = `${state.totalEvents} event${state.totalEvents === 1n ? "" : "s"}`;
    return `${state.correlationId}  ${stages}  ${status}  ${events}${span}${marks}`;
  }

  /** Label/text pairs; a label of "" continues the previous one. */
  private details(state: WorkflowState): [string, string][] {
    const details: [string, string][] = [];
    const add = (label: string, texts: string[]) => {
      for (const [index, text] of texts.entries()) details.push([index === 0 ? label : "", text]);
    };
    add(
      "stage",
      state.stages.map((stage) => {
        const first = optionalMs(stage.firstEventAt) ?? 0;
        const duration = formatDuration((optionalMs(stage.lastEventAt) ?? first) - first);
        const done = stage.completedAt === undefined ? "not completed" : `completed ${this.at(stage.completedAt)}`;
        return `${stage.name || "-"}: ${stage.eventCount} event${stage.eventCount === 1n ? "" : "s"}, ${this.at(stage.firstEventAt)} → ${this.at(stage.lastEventAt)} (${duration}), ${done}`;
      }),
    );
    add(
      "participants",
      state.participants.map((participant) => {
        const pid = `pid ${participant.pid}${participant.verified ? "" : " (stated)"}`;
        const final = participant.finalSent ? ", final" : "";
        return `${orDash(participant.sourceProcess)} ${pid}: ${participant.eventCount} event${participant.eventCount === 1n ? "" : "s"}${final}`;
      }),
    );
    add(
      "deliveries",
      state.deliveries.map((delivery) => {
        const group = delivery.queueGroup === "" ? "" : ` (group ${delivery.queueGroup})`;
        const reason = delivery.reason === "" ? "" : ` (${delivery.reason})`;
        return `${orDash(delivery.subscriberName)}${group}: ${enumText(DeliveryState, delivery.state)}${reason}`;
      }),
    );
    add(
      "GAP",
      state.gaps.map((gap) => {
        const missing = gap.firstMissing === gap.lastMissing ? `${gap.firstMissing}` : `${gap.firstMissing}..${gap.lastMissing}`;
        return `${orDash(gap.sourceProcess)} skipped sequence ${missing}`;
      }),
    );
    const events = this.eventsOf.get(state.correlationId) ?? [];
    if (!this.timeline.truncated && BigInt(events.length) < state.totalEvents) {
      add("EVICTED", [`${state.totalEvents - BigInt(events.length)} of ${state.totalEvents} events are no longer in history`]);
    }
    add(
      "events",
      events.map((event) => this.eventText(event)),
    );
    return details;
  }

  private eventText(event: EventEnvelope): string {
    const meta = event.correlationMetadata;
    const cells = [
      `#${event.eventId}`.padEnd(this.widths.id),
      this.at(event.receivedAt).padStart(this.widths.at),
      event.topic.padEnd(this.widths.topic),
      orDash(meta?.sourceProcess).padEnd(this.widths.source),
      orDash(meta?.workflowStage).padEnd(this.widths.stage),
      meta?.final ? "final" : "     ",
      event.payload.length === 0 ? "" : payloadPreview(event.payload, 40),
    ];
    return cells.join("  ").trimEnd();
  }

  /** A time relative to the workflow's first event: "+45ms". */
  private at(timestamp: Timestamp | undefined): string {
    const ms = optionalMs(timestamp);
    return ms === undefined ? "-" : `+${formatDuration(ms - this.startMs)}`;
  }
}
