import type { EventEnvelope } from "../../gen/corrbus/v1/envelope_pb.js";

/** What an envelope is counted as: its payload plus a fixed allowance for the rest (topic, metadata, stamps). */
const envelopeOverheadBytes = 256;

/**
 * IngestBudget bounds what all PublishStreams together accept in one
 * event-loop turn. A subscriber's socket takes about one send buffer
 * (~200 KiB on Linux) per turn, and each stream keeps batches coming; without
 * a bound, many streams at once made every turn longer and accepted more per
 * turn than any subscriber could be sent, so subscribers that read promptly
 * still fell behind by tens of thousands of events and were cut off. A stream
 * past the budget waits for the next turn (its publisher is held back by
 * HTTP/2 flow control, as for any busy broker); a batch is never split, and a
 * turn with room takes the whole batch. Unary Publish is paced by its round
 * trips and is not counted.
 */
export class IngestBudget {
  private used = 0;
  private resetScheduled = false;

  constructor(
    /** Estimated bytes accepted per turn (see envelopeOverheadBytes). */
    private readonly bytesPerTurn: number,
  ) {}

  /**
   * Counts `envelopes` in this turn and answers undefined when the turn has
   * room; else a promise that does so in a later turn. Undefined, not a
   * resolved promise: each await before a batch is submitted delays its ack.
   */
  admit(envelopes: readonly EventEnvelope[]): Promise<void> | undefined {
    if (this.used >= this.bytesPerTurn) return this.admitLater(envelopes);
    this.count(envelopes);
    return undefined;
  }

  private async admitLater(envelopes: readonly EventEnvelope[]): Promise<void> {
    while (this.used >= this.bytesPerTurn) await new Promise((resolve) => setImmediate(resolve));
    this.count(envelopes);
  }

  private count(envelopes: readonly EventEnvelope[]): void {
    for (const envelope of envelopes) this.used += envelope.payload.length + envelopeOverheadBytes;
    if (!this.resetScheduled) {
      this.resetScheduled = true;
      // Queued before any stream that finds the budget spent, so it runs first next turn.
      setImmediate(() => {
        this.used = 0;
        this.resetScheduled = false;
      });
    }
  }
}
