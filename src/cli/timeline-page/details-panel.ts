import { type Child, clear, el } from "./dom-builders.js";
import { statusName } from "./labels.js";
import { payloadPreview } from "./payload-preview.js";
import type { Selected } from "./selection.js";
import { formatDuration, parseTime, relativeTime } from "./time-format.js";
import type { TimelineEvent, TimelineModel } from "./timeline-model.js";

/** What the details panel can show. */
export interface DetailsPanel {
  /** An event: its envelope, publisher, correlation, tags and payload. */
  showEvent(ev: TimelineEvent): void;
  /** A correlation (titled after one of its stages when `stageName` is given): its state, stages, participants, gaps, deliveries, children. */
  showCorrelation(id: string, stageName?: string): void;
  /** The workflow as a whole, with a hint on what to click. */
  showSummary(): void;
}

/**
 * The details panel in `details`. Correlation ids in it are buttons that call `select`, so that an analyst can
 * walk from an event to its step and from a step to its parent and children.
 */
export function createDetailsPanel(
  details: HTMLElement,
  model: TimelineModel,
  generatedAt: string | undefined,
  select: (what: Selected) => void,
): DetailsPanel {
  const { byId, colorOf, correlations, events, t0, t1 } = model;
  const relative = (t: number | undefined): string => relativeTime(t, t0);

  function kv(pairs: [string, Child][]): HTMLDListElement {
    const dl = el("dl", { class: "kv" });
    for (const pair of pairs) if (pair[1] !== undefined) dl.append(el("dt", {}, [pair[0]]), el("dd", {}, [pair[1]]));
    return dl;
  }

  function correlationButton(id: string | undefined): Child {
    if (!id) return "(none)";
    if (!byId.has(id)) return id + " (never seen)";
    const button = el("button", { class: "linkish", type: "button" }, [id]);
    button.addEventListener("click", () => select({ kind: "correlation", id }));
    return button;
  }

  function showEvent(ev: TimelineEvent): void {
    const raw = ev.raw,
      meta = ev.meta,
      publisher = raw.publisher || {};
    clear(details);
    const pid = String(publisher.pid !== undefined ? publisher.pid : raw.publisherProcessId || 0) + (publisher.verified ? " (kernel-verified)" : " (stated)");
    details.append(
      el("h2", {}, ["Event " + ev.id]),
      kv([
        ["event_id", ev.id],
        ["topic", raw.topic || ""],
        ["received_at", (raw.receivedAt || "?") + "  (" + relative(ev.t) + ")"],
        ["timestamp", raw.timestamp],
        ["source", meta.sourceProcess || "(none)"],
        ["pid", pid],
        ["stated pid", publisher.statedPidMismatch ? String(publisher.statedPid || 0) + " (differs from the kernel's!)" : undefined],
        ["uid / gid", publisher.uid !== undefined ? publisher.uid + " / " + (publisher.gid !== undefined ? publisher.gid : "?") : undefined],
        ["correlation", correlationButton(meta.correlationId)],
        ["parent", meta.parentCorrelationId !== undefined ? correlationButton(meta.parentCorrelationId) : undefined],
        ["stage", meta.workflowStage || "(none)"],
        ["sequence", String(meta.sequenceNumber || 0)],
        ["final", meta.final ? "yes: this publisher's last event here" : "no"],
      ]),
    );
    const tags = meta.correlationTags || {};
    const keys = Object.keys(tags).sort();
    details.append(el("h3", {}, ["Tags (" + keys.length + ")"]));
    if (keys.length === 0) details.append(el("div", { class: "muted", id: "detail-tags" }, ["none"]));
    else {
      const table = el("table", { id: "detail-tags" }, [el("tr", {}, [el("th", {}, ["key"]), el("th", {}, ["value"])])]);
      for (const key of keys) table.append(el("tr", {}, [el("td", { class: "mono" }, [key]), el("td", { class: "mono" }, [tags[key]])]));
      details.append(table);
    }
    const size = Number(model.payloadSizes[ev.id] !== undefined ? model.payloadSizes[ev.id] : 0);
    details.append(el("h3", {}, ["Payload"]), ...payloadPreview(ev, size));
  }

  function showCorrelation(id: string, stageName?: string): void {
    const c = byId.get(id);
    clear(details);
    if (c === undefined) return;
    const swatch = el("span", { class: "swatch" });
    swatch.style.background = colorOf.get(id) || "";
    details.append(
      el("h2", {}, [swatch, stageName !== undefined ? "Stage " + stageName : "Correlation"]),
      kv([
        ["correlation", c.correlationId],
        ["parent", c.parentCorrelationId !== undefined ? correlationButton(c.parentCorrelationId) : "(root step)"],
        ["orphan", c.orphan ? "yes: its parent was never seen by the broker" : undefined],
        ["root", c.rootCorrelationId],
        ["depth", String(c.depth || 0)],
        ["status", statusName(c.status)],
        ["events", String(c.totalEvents || 0)],
        ["first event", c.firstEventAt ? c.firstEventAt + "  (" + relative(parseTime(c.firstEventAt)) + ")" : undefined],
        ["last event", c.lastEventAt ? c.lastEventAt + "  (" + relative(parseTime(c.lastEventAt)) + ")" : undefined],
        ["completed", c.completedAt],
      ]),
    );
    const stageTable = el("table", {}, [
      el(
        "tr",
        {},
        ["stage", "span", "events", "state"].map((h) => el("th", {}, [h])),
      ),
    ]);
    for (const s of c.stages || []) {
      const from = parseTime(s.firstEventAt),
        to = parseTime(s.lastEventAt);
      stageTable.append(
        el("tr", {}, [
          el("td", { class: s.name ? undefined : "muted" }, [s.name || "(events without a stage)"]),
          el("td", {}, [relative(from) + " · " + formatDuration((to || 0) - (from || 0))]),
          el("td", {}, [String(s.eventCount || 0)]),
          el("td", {}, [s.completedAt ? "complete" : "open"]),
        ]),
      );
    }
    details.append(el("h3", {}, ["Stages"]), stageTable);
    const people = el("table", {}, [
      el(
        "tr",
        {},
        ["process", "pid", "events", "last seq"].map((h) => el("th", {}, [h])),
      ),
    ]);
    for (const p of c.participants || []) {
      people.append(
        el("tr", {}, [
          el("td", {}, [(p.sourceProcess || "(none)") + (p.finalSent ? " (final sent)" : "")]),
          el("td", {}, [String(p.pid || 0) + (p.verified ? " ✓" : "")]),
          el("td", {}, [String(p.eventCount || 0)]),
          el("td", {}, [String(p.lastSequenceNumber || 0)]),
        ]),
      );
    }
    details.append(el("h3", {}, ["Participants"]), people);
    const gaps = c.gaps || [];
    if (gaps.length > 0) {
      details.append(el("h3", {}, ["Sequence gaps"]));
      for (const g of gaps) {
        const skipped = g.firstMissing === g.lastMissing ? "sequence number " + g.firstMissing : g.firstMissing + "–" + g.lastMissing;
        details.append(el("div", { class: "warn-text" }, ["⚠ " + (g.sourceProcess || "(none)") + " skipped " + skipped]));
      }
    }
    const deliveries = c.deliveries || [];
    if (deliveries.length > 0) {
      const table = el("table", {}, [
        el(
          "tr",
          {},
          ["task delivered to", "pid", "state"].map((h) => el("th", {}, [h])),
        ),
      ]);
      for (const d of deliveries) {
        table.append(
          el("tr", {}, [
            el("td", {}, [(d.subscriberName || "(unnamed)") + (d.queueGroup ? " [" + d.queueGroup + "]" : "")]),
            el("td", {}, [String(d.subscriberPid || 0)]),
            el("td", {}, [
              String(d.state || "")
                .replace("DELIVERY_STATE_", "")
                .toLowerCase(),
            ]),
          ]),
        );
      }
      details.append(el("h3", {}, ["Deliveries"]), table);
    }
    const kids = c.childCorrelationIds || [];
    if (kids.length > 0) {
      const list = el("div");
      for (const kid of kids) list.append(el("div", {}, [correlationButton(kid)]));
      details.append(el("h3", {}, ["Child steps"]), list);
    }
  }

  function showSummary(): void {
    clear(details);
    details.append(
      el("h2", {}, ["Workflow"]),
      kv([
        ["root", model.rootId || "(unknown)"],
        ["correlations", String(correlations.length)],
        ["orphans", String(correlations.filter((c) => c.orphan).length)],
        ["events", String(events.length) + (model.timeline.truncated ? " (truncated)" : "")],
        ["processes", String(model.lanes.length)],
        ["first event", events.length > 0 ? new Date(t0).toISOString() : "none"],
        ["span", formatDuration(t1 - t0)],
        ["gaps", String(model.gaps.length)],
        ["page written", generatedAt],
      ]),
      el("p", { class: "hint" }, [
        "Click an event mark or a row of the event list for its tags and payload, a stage bar for its step. Hover to highlight a step's events.",
      ]),
    );
  }

  return { showEvent, showCorrelation, showSummary };
}
