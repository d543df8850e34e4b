import type { CorrelationMetadata } from "../../../gen/corrbus/v1/correlation_pb.js";
import type { EventEnvelope } from "../../../gen/corrbus/v1/envelope_pb.js";
import { LineageError } from "../validation/invalid-input-error.js";
import { isControlTopic } from "../routing/topic-pattern.js";
import { retainedSize, stringSize } from "../retained-size.js";
import { RecencyMap } from "../../wire/recency-map.js";

/** Per-correlation caps: a misbehaving publisher cannot make one correlation huge. */
export const correlationCaps = {
  /** Stages tracked per correlation; later ones are counted in events only. */
  maxStages: 64,
  /** Participants tracked per correlation. */
  maxParticipants: 256,
  /** Gaps listed per correlation (all are counted). */
  maxGaps: 64,
} as const;

/** One stage of a correlation. */
export interface StageState {
  name: string;
  firstAt: number;
  lastAt: number;
  eventCount: number;
  completedAt: number | undefined;
  /** Publishers of result (non-control) events in this stage → sent final? */
  publishers: Map<string, boolean>;
}

/** One process that published in a correlation. */
export interface ParticipantState {
  sourceProcess: string;
  pid: number;
  verified: boolean;
  eventCount: number;
  finalSent: boolean;
  /** Highest sequence_number seen: a uint64, kept exact (a double rounds past 2^53, and 2^64-1 became 2^64). */
  lastSequence: bigint;
}

/** A recipient of a task (control.# event), for delivery-tracked completion. */
export interface DeliveryRecord {
  subscriberName: string;
  subscriberPid: number;
  pidVerified: boolean;
  queueGroup: string;
  state: "pending" | "answered" | "disconnected";
  /** Why it is disconnected, or pending across a restart; empty otherwise. */
  reason: string;
  /** Pending across a broker restart: its subscription is gone, a new one by the same name takes it over. */
  awaitingResume: boolean;
}

/** Delivery-tracked status of a correlation. */
export type CorrelationStatus = "open" | "pending" | "complete" | "incomplete";

/** What the tracker keeps for one correlation. */
export interface CorrelationState {
  id: string;
  parentId: string | undefined;
  rootId: string;
  depth: number;
  stages: Map<string, StageState>;
  participants: Map<string, ParticipantState>;
  totalEvents: number;
  /** Skipped sequence numbers, exact uint64 like the numbers they lie between. */
  gaps: { sourceProcess: string; firstMissing: bigint; lastMissing: bigint }[];
  gapCount: number;
  /** Subscription id → delivery. */
  deliveries: Map<number, DeliveryRecord>;
  /** control.# events seen (tasks). */
  tasks: number;
  firstAt: number;
  lastAt: number;
  completedAt: number | undefined;
  /**
   * The correlation's tags: those of its first event that carried any (a
   * later event's tags do not replace them), so a publisher that continues
   * the step or starts a child of it can copy them.
   */
  tags: Readonly<Record<string, string>>;
  /** Estimated bytes this state retains (see WorkflowTracker.retainedBytes). */
  retainedBytes: number;
}

/** The tags of a correlation none of whose events carried any (shared, never modified). */
const noTags: Readonly<Record<string, string>> = Object.freeze({});

/** An empty state for a correlation first seen at `atMs`. */
export function newCorrelationState(id: string, lineage: Lineage, atMs: number): CorrelationState {
  return {
    id,
    parentId: lineage.parentId,
    rootId: lineage.rootId,
    depth: lineage.depth,
    stages: new Map(),
    participants: new Map(),
    totalEvents: 0,
    gaps: [],
    gapCount: 0,
    deliveries: new Map(),
    tasks: 0,
    firstAt: atMs,
    lastAt: atMs,
    completedAt: undefined,
    tags: noTags,
    retainedBytes: 0,
  };
}

/** A task's recipients, each delivery pending (a later delivery to the same subscription replaces the earlier one). */
function addDeliveries(state: CorrelationState, recipients: readonly Recipient[]): void {
  for (const { id, options } of recipients) {
    if (!state.deliveries.has(id)) state.retainedBytes += deliveryBytes(options.name, options.queueGroup);
    state.deliveries.set(id, {
      subscriberName: options.name,
      subscriberPid: options.pid,
      pidVerified: options.pidVerified,
      queueGroup: options.queueGroup,
      state: "pending",
      reason: "",
      awaitingResume: false,
    });
  }
}

/** A recipient of a routed event, as the tracker needs to know it. */
export interface Recipient {
  id: number;
  options: { name: string; pid: number; pidVerified: boolean; queueGroup: string };
}

/** Lineage facts the tracker would record for a correlation. */
export interface Lineage {
  parentId: string | undefined;
  rootId: string;
  depth: number;
}

/**
 * WorkflowTracker follows correlations: lineage, stages, participants,
 * sequence gaps and task deliveries. It is bounded by a cap on tracked
 * correlations and by an estimate of the bytes they retain (least recently
 * active evicted first past either), and by idle expiry; all are counted.
 */
export class WorkflowTracker {
  /** Least recently active first. */
  private readonly states = new RecencyMap<string, CorrelationState>();
  private readonly byRoot = new Map<string, Set<string>>();
  /** Correlations with a pending delivery (to settle when a recipient leaves). */
  private readonly withPending = new Set<string>();
  /** The correlation touched last: the most recent entry of `states` (undefined once forgotten). */
  private lastTouched: CorrelationState | undefined;
  private expiredCount = 0;
  private evictedCount = 0;
  private memoryEvictedCount = 0;
  private retained = 0;
  private lineageRejectedCount = 0;
  private orphanCount = 0;

  constructor(
    private readonly maxActive: number,
    private readonly idleMs: number,
    private readonly maxDepth: number,
    /** Told about every change to a correlation, with the event when one caused it. */
    private readonly onChange: (state: CorrelationState, event: EventEnvelope | undefined) => void = () => {},
    /** Most bytes the tracked correlations may retain (estimated); the least recently active go past it. */
    private readonly maxBytes = Number.POSITIVE_INFINITY,
  ) {}

  get active(): number {
    return this.states.size;
  }
  get expired(): number {
    return this.expiredCount;
  }
  get evicted(): number {
    return this.evictedCount;
  }
  /** Correlations forgotten to keep within the byte bound. */
  get memoryEvicted(): number {
    return this.memoryEvictedCount;
  }
  /** Estimated bytes the tracked correlations retain. */
  get retainedBytes(): number {
    return this.retained;
  }
  get lineageRejected(): number {
    return this.lineageRejectedCount;
  }
  get orphans(): number {
    return this.orphanCount;
  }

  get(correlationId: string): CorrelationState | undefined {
    return this.states.get(correlationId);
  }

  /** Tracked correlations of a workflow. */
  underRoot(rootId: string): CorrelationState[] {
    const ids = this.byRoot.get(rootId);
    if (ids === undefined) return [];
    return [...ids].map((id) => this.states.get(id)).filter((s): s is CorrelationState => s !== undefined);
  }

  /**
   * Checks the lineage an event states against what is known, without changing
   * anything. `extra` looks up lineage of correlations not tracked yet (earlier
   * in the same batch, or waiting for the journal). Throws LineageError with the field and the rule.
   */
  checkLineage(meta: CorrelationMetadata, extra?: (correlationId: string) => Lineage | undefined): Lineage {
    try {
      return this.lineageOf(meta, extra);
    } catch (error) {
      if (error instanceof LineageError) this.lineageRejectedCount++;
      throw error;
    }
  }

  private lineageOf(meta: CorrelationMetadata, extra?: (correlationId: string) => Lineage | undefined): Lineage {
    const id = meta.correlationId;
    const parentId = meta.parentCorrelationId;
    const rootId = meta.rootCorrelationId;
    const lookup = (key: string): Lineage | undefined => this.states.get(key) ?? extra?.(key);
    if (parentId === undefined && rootId !== id) {
      throw new LineageError("correlation_metadata.root_correlation_id", `must equal correlation_id ${id} for a step without parent_correlation_id`);
    }
    if (parentId === id) {
      throw new LineageError("correlation_metadata.parent_correlation_id", `a correlation cannot be its own parent (cycle at ${id})`);
    }
    if (parentId !== undefined && rootId === id) {
      throw new LineageError("correlation_metadata.root_correlation_id", `a step with parent ${parentId} cannot be its own root`);
    }
    const known = lookup(id);
    if (known !== undefined) {
      if (known.parentId !== parentId || known.rootId !== rootId) {
        throw new LineageError(
          "correlation_metadata",
          `correlation ${id} was first seen with parent ${known.parentId ?? "(none)"} and root ${known.rootId}; this event states parent ${parentId ?? "(none)"} and root ${rootId}`,
        );
      }
      return known;
    }
    if (parentId === undefined) return { parentId, rootId, depth: 0 };
    const parent = lookup(parentId);
    if (parent === undefined) return { parentId, rootId, depth: 1 };
    if (parent.rootId !== rootId) {
      throw new LineageError("correlation_metadata.root_correlation_id", `${rootId} differs from root ${parent.rootId} of parent ${parentId}`);
    }
    const depth = parent.depth + 1;
    if (depth > this.maxDepth) {
      throw new LineageError("correlation_metadata.parent_correlation_id", `depth ${depth} exceeds the limit of ${this.maxDepth} (maxLineageDepth)`);
    }
    // Orphans can close a loop later; walk up (bounded by the depth cap).
    let ancestor: Lineage | undefined = parent;
    for (let steps = 0; ancestor?.parentId !== undefined && steps <= this.maxDepth; steps++) {
      if (ancestor.parentId === id) {
        throw new LineageError("correlation_metadata.parent_correlation_id", `parent ${parentId} descends from ${id}: a cycle`);
      }
      ancestor = lookup(ancestor.parentId);
    }
    // The walk ran out with ancestors left: a chain of orphans deeper than the
    // cap (or a cycle longer than it). Either way the true depth is over the cap.
    if (ancestor?.parentId !== undefined) {
      throw new LineageError(
        "correlation_metadata.parent_correlation_id",
        `parent ${parentId} has more than ${this.maxDepth} known ancestors: depth exceeds the limit of ${this.maxDepth} (maxLineageDepth)`,
      );
    }
    return { parentId, rootId, depth };
  }

  /** Records an accepted event and the subscribers it was routed to. */
  observe(event: EventEnvelope, recipients: readonly Recipient[], nowMs: number): void {
    const meta = event.correlationMetadata;
    if (meta === undefined) return;
    const state = this.touch(meta, nowMs);
    const before = state.retainedBytes;
    state.totalEvents++;
    state.lastAt = nowMs;
    const publisher = event.publisher;
    const pid = publisher?.pid ?? event.publisherProcessId;
    const verified = publisher?.verified ?? false;
    const participantKey = meta.sourceProcess !== "" ? meta.sourceProcess : `pid:${pid}`;
    const isTask = isControlTopic(event.topic);
    if (state.tags === noTags) recordTags(state, meta.correlationTags);
    this.recordParticipant(state, participantKey, meta, pid, verified);
    this.recordStage(state, meta, participantKey, isTask, nowMs);
    if (isTask) {
      state.tasks++;
      addDeliveries(state, recipients);
    }
    if (meta.final) this.answer(state, meta.sourceProcess, pid, verified);
    this.settle(state, nowMs);
    this.account(state, before);
    this.onChange(state, event);
  }

  /**
   * Deliveries of a task read back from the journal at start-up (the task's
   * event was restored before, with no recipients). A correlation no longer
   * tracked has nothing to add them to.
   */
  restoreDeliveries(correlationId: string, recipients: readonly Recipient[], atMs: number): void {
    const state = this.states.get(correlationId);
    if (state === undefined) return;
    const before = state.retainedBytes;
    addDeliveries(state, recipients);
    this.settle(state, atMs);
    this.account(state, before);
  }

  /** A subscriber left: its pending deliveries end as disconnected, for `reason`. Answers whether it had any. */
  recipientGone(subscriptionId: number, nowMs: number, reason: string): boolean {
    let had = false;
    for (const id of [...this.withPending]) {
      const state = this.states.get(id);
      const delivery = state?.deliveries.get(subscriptionId);
      if (state === undefined || delivery === undefined || delivery.state !== "pending") continue;
      delivery.state = "disconnected";
      delivery.reason = reason;
      delivery.awaitingResume = false;
      had = true;
      this.settle(state, nowMs);
      this.onChange(state, undefined);
    }
    return had;
  }

  /**
   * After a restart: every delivery still pending lost its subscription with
   * the old broker. It stays pending, waiting for its recipient to subscribe
   * again. Answers the subscription ids that are waiting.
   */
  awaitResumes(): Set<number> {
    const waiting = new Set<number>();
    for (const id of this.withPending) {
      for (const [subscriptionId, delivery] of this.states.get(id)?.deliveries ?? []) {
        if (delivery.state !== "pending") continue;
        delivery.awaitingResume = true;
        delivery.reason = "the broker restarted; waiting for the subscriber to subscribe again";
        waiting.add(subscriptionId);
      }
    }
    return waiting;
  }

  /**
   * A new subscription named `name`: deliveries awaiting a resume to a
   * subscriber of that name move to it. Answers the old subscription ids
   * that moved.
   */
  resume(name: string, subscriptionId: number): number[] {
    if (name === "") return [];
    const moved = new Set<number>();
    for (const id of this.withPending) {
      const state = this.states.get(id);
      if (state === undefined) continue;
      for (const [previousId, delivery] of state.deliveries) {
        if (delivery.awaitingResume && delivery.subscriberName === name) moved.add(previousId);
      }
    }
    for (const previousId of moved) this.move(previousId, subscriptionId);
    return [...moved];
  }

  /** The deliveries of subscription `previousId` now belong to `subscriptionId` (a resume, or its journal record). */
  move(previousId: number, subscriptionId: number): void {
    for (const id of this.withPending) {
      const state = this.states.get(id);
      const delivery = state?.deliveries.get(previousId);
      if (state === undefined || delivery === undefined || delivery.state !== "pending") continue;
      delivery.awaitingResume = false;
      delivery.reason = "";
      // Same place in the map: deliveries are listed in the order they were made.
      state.deliveries = new Map([...state.deliveries].map(([key, value]) => [key === previousId ? subscriptionId : key, value]));
    }
  }

  /** Forgets correlations idle longer than the idle limit. */
  sweep(nowMs: number): void {
    for (const state of this.states.values()) {
      if (nowMs - state.lastAt < this.idleMs) break;
      this.forget(state);
      this.expiredCount++;
    }
  }

  /** Delivery-tracked status. */
  static status(state: CorrelationState): CorrelationStatus {
    if (state.deliveries.size === 0) return "open";
    let disconnected = false;
    for (const delivery of state.deliveries.values()) {
      if (delivery.state === "pending") return "pending";
      if (delivery.state === "disconnected") disconnected = true;
    }
    return disconnected ? "incomplete" : "complete";
  }

  private touch(meta: CorrelationMetadata, nowMs: number): CorrelationState {
    const id = meta.correlationId;
    // Touched last, so already the most recent entry: events come in runs of one correlation.
    const last = this.lastTouched;
    if (last !== undefined && last.id === id) return last;
    let state = this.states.touch(id);
    if (state !== undefined) {
      this.lastTouched = state;
      return state;
    }
    const lineage = this.lineageOf(meta);
    if (lineage.parentId !== undefined && !this.states.has(lineage.parentId)) this.orphanCount++;
    state = newCorrelationState(id, lineage, nowMs);
    state.retainedBytes = stateBytes(state);
    this.sweep(nowMs);
    while (this.states.size >= this.maxActive) {
      this.forget((this.states.takeOldest() as [string, CorrelationState])[1]);
      this.evictedCount++;
    }
    this.states.set(id, state);
    let siblings = this.byRoot.get(state.rootId);
    if (siblings === undefined) {
      siblings = new Set();
      this.byRoot.set(state.rootId, siblings);
      this.retained += rootSetBytes(state.rootId);
    }
    siblings.add(id);
    this.retained += state.retainedBytes;
    this.lastTouched = state;
    return state;
  }

  /**
   * Counts what a change to `state` added to what it retains (`before`: its
   * estimate before the change), then forgets the least
   * recently active correlations while the total is past the byte bound.
   * `state` is the most recent, so it goes last (never while others remain).
   */
  private account(state: CorrelationState, before: number): void {
    this.retained += state.retainedBytes - before;
    while (this.retained > this.maxBytes && this.states.size > 1) {
      this.forget((this.states.takeOldest() as [string, CorrelationState])[1]);
      this.memoryEvictedCount++;
    }
  }

  private forget(state: CorrelationState): void {
    if (this.lastTouched === state) this.lastTouched = undefined;
    this.states.delete(state.id);
    this.withPending.delete(state.id);
    this.retained -= state.retainedBytes;
    const siblings = this.byRoot.get(state.rootId);
    siblings?.delete(state.id);
    if (siblings?.size === 0) {
      this.byRoot.delete(state.rootId);
      this.retained -= rootSetBytes(state.rootId);
    }
  }

  private recordParticipant(state: CorrelationState, key: string, meta: CorrelationMetadata, pid: number, verified: boolean): void {
    let participant = state.participants.get(key);
    if (participant === undefined) {
      if (state.participants.size >= correlationCaps.maxParticipants) return;
      participant = { sourceProcess: meta.sourceProcess, pid, verified, eventCount: 0, finalSent: false, lastSequence: 0n };
      state.participants.set(key, participant);
      state.retainedBytes += participantBytes(key, meta.sourceProcess);
    }
    participant.eventCount++;
    if (meta.final) participant.finalSent = true;
    const sequence = meta.sequenceNumber;
    if (sequence === 0n) return;
    const last = participant.lastSequence;
    if (sequence <= last) return;
    if (sequence > last + 1n) {
      state.gapCount++;
      if (state.gaps.length < correlationCaps.maxGaps) {
        state.gaps.push({ sourceProcess: key, firstMissing: last + 1n, lastMissing: sequence - 1n });
        state.retainedBytes += gapBytes;
      }
    }
    participant.lastSequence = sequence;
  }

  private recordStage(state: CorrelationState, meta: CorrelationMetadata, participantKey: string, isTask: boolean, nowMs: number): void {
    const name = meta.workflowStage;
    let stage = state.stages.get(name);
    if (stage === undefined) {
      if (state.stages.size >= correlationCaps.maxStages) return;
      stage = { name, firstAt: nowMs, lastAt: nowMs, eventCount: 0, completedAt: undefined, publishers: new Map() };
      state.stages.set(name, stage);
      state.retainedBytes += stageBytes(name);
    }
    stage.eventCount++;
    stage.lastAt = nowMs;
    // Task publishers hand work out; the stage waits for those who answer.
    if (!isTask && stage.publishers.size < correlationCaps.maxParticipants) {
      if (!stage.publishers.has(participantKey)) state.retainedBytes += retainedSize.mapEntry;
      stage.publishers.set(participantKey, (stage.publishers.get(participantKey) ?? false) || meta.final);
    }
  }

  private answer(state: CorrelationState, sourceProcess: string, pid: number, verified: boolean): void {
    for (const delivery of state.deliveries.values()) {
      if (delivery.state !== "pending") continue;
      const byName = sourceProcess !== "" && delivery.subscriberName === sourceProcess;
      const byPid = verified && delivery.pidVerified && delivery.subscriberPid === pid;
      if (byName || byPid) {
        delivery.state = "answered";
        delivery.reason = "";
        delivery.awaitingResume = false;
      }
    }
  }

  /** Updates completion times and the pending set after a change. */
  private settle(state: CorrelationState, nowMs: number): void {
    const status = WorkflowTracker.status(state);
    if (status === "pending") {
      this.withPending.add(state.id);
      state.completedAt = undefined;
      return;
    }
    this.withPending.delete(state.id);
    if ((status === "complete" || status === "incomplete") && state.completedAt === undefined) {
      state.completedAt = nowMs;
    }
    for (const stage of state.stages.values()) {
      if (stage.completedAt !== undefined || stage.publishers.size === 0) continue;
      let allFinal = true;
      for (const sentFinal of stage.publishers.values()) allFinal &&= sentFinal;
      if (allFinal) stage.completedAt = nowMs;
    }
  }
}

// Estimates of what a correlation's state retains, for the byte bound (see retainedSize).
const { mapEntry, emptyMap, objectHeader, field, bigint } = retainedSize;

/** A new state: its object, its empty maps and gap list, its ids, its entries in the tracker's maps and its node in the recency order. */
function stateBytes(state: CorrelationState): number {
  const ids =
    stringSize(state.id) + (state.rootId === state.id ? 0 : stringSize(state.rootId)) + (state.parentId === undefined ? 0 : stringSize(state.parentId));
  return objectHeader + 17 * field + 3 * emptyMap + objectHeader + 4 * field + ids + 2 * mapEntry + recencyNode;
}

/** A RecencyMap node: key, value and two links. */
const recencyNode = objectHeader + 4 * field;

/** Keeps a copy of the first tags a correlation's events carry (bounded by the per-event tag limit). */
function recordTags(state: CorrelationState, tags: Readonly<Record<string, string>>): void {
  const entries = Object.entries(tags);
  if (entries.length === 0) return;
  const copy: Record<string, string> = {};
  let bytes = objectHeader;
  for (const [key, value] of entries) {
    // defineProperty: a key such as "__proto__" is a tag like any other, not the copy's prototype.
    Object.defineProperty(copy, key, { value, enumerable: true, writable: true, configurable: true });
    bytes += mapEntry + stringSize(key) + stringSize(value);
  }
  state.tags = copy;
  state.retainedBytes += bytes;
}

/** The set of a root's correlations, with its entry and the root's id. */
function rootSetBytes(rootId: string): number {
  return emptyMap + mapEntry + stringSize(rootId);
}

function stageBytes(name: string): number {
  return objectHeader + 6 * field + emptyMap + mapEntry + stringSize(name);
}

function participantBytes(key: string, sourceProcess: string): number {
  return objectHeader + 6 * field + bigint + mapEntry + stringSize(key) + (key === sourceProcess ? 0 : stringSize(sourceProcess));
}

const gapBytes = objectHeader + 3 * field + 2 * bigint + field;

function deliveryBytes(name: string, queueGroup: string): number {
  return objectHeader + 7 * field + mapEntry + stringSize(name) + stringSize(queueGroup);
}
