import type { EventEnvelope } from "../../../gen/corrbus/v1/envelope_pb.js";
import { CapacityError } from "../validation/broker-errors.js";
import type { ResultWaiter, WaitOutcome } from "./result-waiter.js";
import type { CorrelationState } from "./workflow-tracker.js";

/** One WaitForResults call in progress: its condition and how to end it. */
export interface PendingWait {
  waiter: ResultWaiter;
  /** Ends the wait with `outcome`; also takes it out of the registry. */
  finish: (outcome: WaitOutcome) => void;
}

/**
 * The waits in progress, by correlation id, bounded by `maxWaiters`: an event
 * wakes only the waits of its own correlation.
 */
export class WaiterRegistry {
  private readonly byCorrelation = new Map<string, Set<PendingWait>>();
  private waiting = 0;

  constructor(private readonly maxWaiters: number) {}

  /** Waits in progress. */
  get count(): number {
    return this.waiting;
  }

  /** Throws a CapacityError when no further wait may start. */
  checkRoom(): void {
    if (this.waiting >= this.maxWaiters) {
      throw new CapacityError(`${this.waiting} waiters reached the limit of ${this.maxWaiters} (maxWaiters)`);
    }
  }

  /** Registers a wait on `correlationId`. */
  add(correlationId: string, pending: PendingWait): void {
    let set = this.byCorrelation.get(correlationId);
    if (set === undefined) {
      set = new Set();
      this.byCorrelation.set(correlationId, set);
    }
    set.add(pending);
    this.waiting++;
  }

  /** Unregisters a wait; a wait already removed is left alone. */
  remove(correlationId: string, pending: PendingWait): void {
    const set = this.byCorrelation.get(correlationId);
    if (set === undefined || !set.delete(pending)) return;
    this.waiting--;
    if (set.size === 0) this.byCorrelation.delete(correlationId);
  }

  /** Shows the waits of `state`'s correlation its new event (if any) and finishes those whose condition now holds. */
  wake(state: CorrelationState, event: EventEnvelope | undefined): void {
    const set = this.byCorrelation.get(state.id);
    if (set === undefined) return;
    // A copy: finishing a wait removes it from the set being walked.
    for (const pending of [...set]) {
      if (event !== undefined) pending.waiter.observe(event);
      const outcome = pending.waiter.evaluate(state);
      if (outcome !== undefined) pending.finish(outcome);
    }
  }

  /** Finishes every wait with the outcome `outcomeOf` gives it (shutdown). */
  finishAll(outcomeOf: (pending: PendingWait) => WaitOutcome): void {
    for (const set of [...this.byCorrelation.values()]) {
      for (const pending of [...set]) pending.finish(outcomeOf(pending));
    }
  }
}
