import type { EventEnvelope } from "../../../gen/corrbus/v1/envelope_pb.js";
import { type TopicPattern, topicMatches } from "../routing/topic-pattern.js";
import { type CorrelationState, WorkflowTracker } from "./workflow-tracker.js";

/** Why a wait ended (mirrors corrbus.v1.CompletionReason). */
export type WaitReason = "expected_results" | "expected_sources" | "all_recipients_answered" | "deadline" | "recipient_disconnected" | "no_recipients";

/** What WaitForResults asked for. */
export interface WaitCondition {
  correlationId: string;
  /** 0 for none. */
  expectedResults: number;
  /** Empty for none. */
  expectedSources: readonly string[];
  /** Which events count as results. */
  resultPattern: TopicPattern;
}

/** How a wait ended. */
export interface WaitOutcome {
  complete: boolean;
  reason: WaitReason;
  /** Ids of the result events seen, ascending (at most maxResultIds). */
  resultIds: number[];
  /** True when more results arrived than resultIds holds. */
  truncated: boolean;
  pendingSources: string[];
  disconnectedSources: string[];
}

/** Most result ids one wait keeps: its answer is bounded too. */
export const maxResultIds = 10_000;

/**
 * ResultWaiter is one WaitForResults call: it counts matching result events as
 * they are observed and decides, on each change of its correlation, whether
 * its condition holds. It never polls: the broker calls `observe` and
 * `evaluate` from the publish path.
 */
export class ResultWaiter {
  private readonly resultIds: number[] = [];
  private resultCount = 0;
  private readonly finalSources = new Set<string>();
  private lastSeenId = 0;

  constructor(readonly condition: WaitCondition) {}

  /** Counts `event` when it is a result (matches the pattern). Idempotent per event id. */
  observe(event: EventEnvelope): void {
    const id = Number(event.eventId);
    if (id <= this.lastSeenId) return;
    this.lastSeenId = id;
    if (!topicMatches(this.condition.resultPattern, event.topic)) return;
    this.resultCount++;
    if (this.resultIds.length < maxResultIds) this.resultIds.push(id);
    const meta = event.correlationMetadata;
    if (meta?.final && meta.sourceProcess !== "") this.finalSources.add(meta.sourceProcess);
  }

  /** The outcome when the condition holds now, else undefined. */
  evaluate(state: CorrelationState | undefined): WaitOutcome | undefined {
    const { expectedResults, expectedSources } = this.condition;
    if (expectedResults > 0 || expectedSources.length > 0) {
      const pending = this.pendingExpectedSources();
      if (this.resultCount < expectedResults || pending.length > 0) return undefined;
      return this.outcome(true, expectedSources.length > 0 ? "expected_sources" : "expected_results", [], []);
    }
    if (state === undefined || state.tasks === 0) return undefined;
    if (state.deliveries.size === 0) return this.outcome(false, "no_recipients", [], []);
    const status = WorkflowTracker.status(state);
    if (status === "pending") return undefined;
    const disconnected = this.recipientsIn(state, "disconnected");
    return status === "complete" ? this.outcome(true, "all_recipients_answered", [], []) : this.outcome(false, "recipient_disconnected", [], disconnected);
  }

  /** The outcome at the deadline: whatever arrived, and who still owes an answer. */
  deadline(state: CorrelationState | undefined): WaitOutcome {
    const usesSources = this.condition.expectedResults > 0 || this.condition.expectedSources.length > 0;
    const pending = usesSources ? this.pendingExpectedSources() : state ? this.recipientsIn(state, "pending") : [];
    const disconnected = state ? this.recipientsIn(state, "disconnected") : [];
    return this.outcome(false, "deadline", pending, disconnected);
  }

  private pendingExpectedSources(): string[] {
    return this.condition.expectedSources.filter((source) => !this.finalSources.has(source));
  }

  private recipientsIn(state: CorrelationState, wanted: "pending" | "disconnected"): string[] {
    const names: string[] = [];
    for (const delivery of state.deliveries.values()) {
      if (delivery.state !== wanted) continue;
      names.push(delivery.subscriberName !== "" ? delivery.subscriberName : `pid:${delivery.subscriberPid}`);
    }
    return names;
  }

  private outcome(complete: boolean, reason: WaitReason, pendingSources: string[], disconnectedSources: string[]): WaitOutcome {
    return {
      complete,
      reason,
      resultIds: this.resultIds.slice(),
      truncated: this.resultCount > this.resultIds.length,
      pendingSources,
      disconnectedSources,
    };
  }
}
