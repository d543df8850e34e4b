import { type MessageInitShape, create } from "@bufbuild/protobuf";
import { type Timestamp, timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { type EventEnvelope, EventEnvelopeSchema, type PublisherIdentity, PublisherIdentitySchema } from "../../gen/corrbus/v1/envelope_pb.js";
import { type TaskRecipientSchema, type WorkflowFact, WorkflowFactSchema } from "../../gen/corrbus/v1/journal_pb.js";
import { type BrokerLimits, validateBrokerLimits, workflowShareOfMemory } from "./validation/broker-limits.js";
import { CapacityError, NotFoundError, PermissionDeniedError, StorageError } from "./validation/broker-errors.js";
import { checkName, checkUuid, validateEnvelope, validateTags } from "./validation/envelope-validation.js";
import { IndexedHistory } from "./history/indexed-history.js";
import { IdListCursor } from "./history/id-list-cursor.js";
import { SharedMetadataMemo } from "../wire/shared-metadata-memo.js";
import { InvalidInputError } from "./validation/invalid-input-error.js";
import { maxEventId } from "./validation/event-id-range.js";
import { checkHostId } from "./validation/host-id.js";
import { OriginLedger } from "./fleet/origin-ledger.js";
import { ResultWaiter, type WaitCondition, type WaitOutcome } from "./tracking/result-waiter.js";
import { type PendingWait, WaiterRegistry } from "./tracking/waiter-registry.js";
import { rememberEncoding, withoutPayload } from "../wire/encoded-events.js";
import { type SplitEnvelope, peekHostId, peekTopic } from "../wire/stored-envelope.js";
import { Subscription, type SubscriptionOptions } from "./routing/subscription.js";
import { type TopicPattern, isControlTopic, parseTopicPattern, topicMatches } from "./routing/topic-pattern.js";
import { TopicRouter } from "./routing/topic-router.js";
import { type CorrelationState, type Lineage, type Recipient, WorkflowTracker, newCorrelationState } from "./tracking/workflow-tracker.js";
import type {
  AccessPolicy,
  AcceptedEvents,
  BrokerFleetOptions,
  BrokerStats,
  IngestOutcome,
  CorrelationView,
  EventJournal,
  PeerIdentity,
  PublishResult,
  SubscribeInput,
  TagQuery,
  TagQueryPage,
} from "./broker-ports.js";

const defaultFindLimit = 100;
const defaultTimelineLimit = 10_000;
const resultsPattern = parseTopicPattern("events.#");
/** Hosts a central broker tells apart for dedup; each costs the ledger's window of ids. */
const defaultMaxIngestHosts = 1024;

/**
 * CorrelationBroker is the domain core: it validates, stamps, stores, indexes,
 * tracks and routes events, and answers queries. It knows nothing of HTTP/2:
 * the service layer translates wire messages into these calls.
 */
export class CorrelationBroker {
  readonly limits: BrokerLimits;
  private readonly history: IndexedHistory;
  private readonly router: TopicRouter;
  private readonly tracker: WorkflowTracker;
  private readonly waiters: WaiterRegistry;
  private lastEventId = 0;
  /** The newest event id stored (committed, or restored); lastEventId runs ahead of it while the journal writes. */
  private lastCommittedId = 0;
  private lastReceivedMs = 0;
  private nextSubscriptionId = 1;
  private publishedCount = 0;
  private rejectedCount = 0;
  private readonly startedAtMs: number;
  /** The metadata validated last: events repeating it skip the checks of its shared fields. */
  private readonly checkedMetadata = new SharedMetadataMemo<true>();
  /** The publisher identity stamped last, reused while the same connection keeps publishing. */
  private lastIdentity: { peer: PeerIdentity; statedPid: number; identity: PublisherIdentity } | undefined;
  /** Lineage of correlations stamped but not yet committed (waiting for the journal). */
  private readonly pendingLineage = new Map<string, Lineage>();
  private restoredCount = 0;
  private expiredCount = 0;
  private deniedCount = 0;
  private restoreLineageSkipped = 0;
  /** Subscriptions of the last broker with deliveries still pending, until they resume or `resumeDeadlineMs`. */
  private awaitingResume = new Set<number>();
  private resumeDeadlineMs = 0;
  /** Set by beginShutdown: subscriptions ending now keep their pending deliveries. */
  private shuttingDown = false;
  /** Stamped on every event this broker accepts from a publisher. */
  readonly hostId: string;
  /** Events ingested from other hosts' brokers (a central broker's), per host: the dedup on (host, origin event id). */
  private readonly origins: OriginLedger;
  private ingestRefused = 0;

  constructor(
    limits: Partial<BrokerLimits> = {},
    /** Wall clock in ms; injectable for tests. */
    private readonly now: () => number = Date.now,
    /** Where accepted events are made durable; none keeps history in memory only. */
    private readonly journal?: EventJournal,
    /** Who may publish to control.#. */
    private readonly access: AccessPolicy = {},
    /** The host id and the ingest bounds (see BrokerFleetOptions). */
    fleet: BrokerFleetOptions = {},
  ) {
    this.limits = validateBrokerLimits(limits);
    this.hostId = fleet.hostId === undefined ? "" : checkHostId(fleet.hostId);
    this.origins = new OriginLedger(fleet.maxIngestHosts ?? defaultMaxIngestHosts);
    this.startedAtMs = now();
    this.waiters = new WaiterRegistry(this.limits.maxWaiters);
    this.history = new IndexedHistory(this.limits.historyMaxEvents, this.limits.historyMaxBytes, this.hostId);
    this.router = new TopicRouter((subscription) => this.recipientGone(subscription.id, "the subscriber was cut off for not keeping up before it answered"));
    this.tracker = new WorkflowTracker(
      this.limits.maxActiveWorkflows,
      this.limits.workflowIdleMs,
      this.limits.maxLineageDepth,
      (state, event) => this.waiters.wake(state, event),
      Math.floor(this.limits.memoryLimitBytes * workflowShareOfMemory),
    );
  }

  /**
   * The durable path: checks every envelope (refusing the whole batch on the
   * first bad one), stamps them, hands them to the journal and, once it holds
   * them under its fsync policy, stores, tracks and routes them. Subscribers
   * and queries never see an event the journal has not accepted; the answer
   * is the acknowledgement.
   */
  submit(envelopes: readonly EventEnvelope[], peer: PeerIdentity, asBatch: boolean): Promise<PublishResult[]> {
    // Checked and stamped now, synchronously: a refusal is thrown before this
    // returns, so a caller pipelining batches knows at once that nothing after
    // the refused one may go on.
    const accepted = this.accept(envelopes, peer, asBatch);
    if (this.journal === undefined) return Promise.resolve(this.commit(accepted));
    const records = accepted.stamped.map((envelope, index) => ({ id: Number(envelope.eventId), encoded: accepted.wholes[index] }));
    return this.journal.append(records).then(
      () => this.commit(accepted),
      (error) => {
        for (const envelope of accepted.stamped) this.forgetPending(envelope);
        if (error instanceof CapacityError) throw error;
        throw new StorageError(`journal refused the events: ${(error as Error).message}`, { cause: error });
      },
    );
  }

  /**
   * The first half of `submit`, synchronous: checks the batch (throwing on the
   * first refusal, nothing accepted), stamps every envelope and encodes it
   * once. The answer goes to the journal, then to `commit`.
   */
  accept(envelopes: readonly EventEnvelope[], peer: PeerIdentity, asBatch: boolean): AcceptedEvents {
    const lineages = this.check(envelopes, peer, asBatch);
    const stamped = envelopes.map((envelope, index) => this.stamp(envelope, peer, lineages[index]));
    // Encoded once: the journal writes it whole, history keeps it split.
    const splits = stamped.map((envelope) => this.history.split(envelope));
    const wholes = splits.map((split) => this.history.encodeWhole(split));
    return { stamped, splits, wholes };
  }

  /**
   * The second half of `submit`, synchronous: stores, tracks and routes
   * accepted events, in order. With a journal, only once the journal holds
   * them, so nobody sees an event a crash could take back.
   */
  commit(accepted: AcceptedEvents): PublishResult[] {
    return accepted.stamped.map((envelope, index) => this.commitOne(envelope, accepted.splits[index], accepted.wholes[index]));
  }

  /**
   * A central broker's path: stores events another host's broker accepted
   * (read from the fleet's stream), each keeping its host_id and publisher,
   * with origin_event_id and origin_received_at from the host and a new
   * event_id and received_at from this broker. A copy of an event already
   * stored (same host_id and origin event id) is dropped and counted; an event
   * that fails validation or lineage is refused alone, counted and described
   * (the rest of the batch is stored): the stream cannot take it back. The
   * caller gives batches one at a time, each after the last one's promise.
   */
  ingest(envelopes: readonly EventEnvelope[]): Promise<IngestOutcome> {
    const outcome: IngestOutcome = { stored: 0, duplicates: 0, refused: [] };
    const stamped: EventEnvelope[] = [];
    const inBatch = new Set<string>();
    const batchLineage = new Map<string, Lineage>();
    const lookup = (id: string) => batchLineage.get(id) ?? this.pendingLineage.get(id);
    for (const [index, envelope] of envelopes.entries()) {
      const originId = envelope.originEventId !== 0n ? envelope.originEventId : envelope.eventId;
      try {
        checkHostId(envelope.hostId);
        if (originId === 0n || originId > BigInt(maxEventId)) {
          throw new InvalidInputError("event_id", `${originId} is not an event id (1 to ${maxEventId})`);
        }
        const key = `${envelope.hostId}:${originId}`;
        if (this.origins.has(envelope.hostId, Number(originId)) || inBatch.has(key)) {
          this.origins.duplicate(envelope.hostId);
          outcome.duplicates++;
          continue;
        }
        if (this.lastEventId + 1 > maxEventId) throw new CapacityError(`event ids are used up: the largest event id is ${maxEventId} (2^53-1)`);
        validateEnvelope(envelope, this.limits, false);
        const meta = envelope.correlationMetadata;
        let lineage: Lineage | undefined;
        if (meta !== undefined) {
          lineage = this.tracker.checkLineage(meta, lookup);
          batchLineage.set(meta.correlationId, lineage);
        }
        inBatch.add(key);
        stamped.push(this.stampIngested(envelope, originId, lineage));
      } catch (error) {
        this.ingestRefused++;
        outcome.refused.push({ index, hostId: envelope.hostId, originEventId: Number(originId), reason: (error as Error).message });
      }
    }
    const splits = stamped.map((envelope) => this.history.split(envelope));
    const accepted: AcceptedEvents = { stamped, splits, wholes: splits.map((split) => this.history.encodeWhole(split)) };
    const done = () => {
      for (const [index, envelope] of stamped.entries()) {
        const result = this.commitOne(envelope, accepted.splits[index], accepted.wholes[index]);
        this.recordOrigin(envelope, result.receivedAtMs);
      }
      outcome.stored = stamped.length;
      return outcome;
    };
    if (this.journal === undefined || stamped.length === 0) return Promise.resolve(done());
    const records = stamped.map((envelope, index) => ({ id: Number(envelope.eventId), encoded: accepted.wholes[index] }));
    return this.journal.append(records).then(done, (error) => {
      for (const envelope of stamped) this.forgetPending(envelope);
      if (error instanceof CapacityError) throw error;
      throw new StorageError(`journal refused the events: ${(error as Error).message}`, { cause: error });
    });
  }

  /** An ingested event with this broker's event id and receive time, its origin's kept in the origin fields. */
  private stampIngested(envelope: EventEnvelope, originId: bigint, lineage: Lineage | undefined): EventEnvelope {
    const id = ++this.lastEventId;
    const receivedAtMs = Math.max(this.now(), this.lastReceivedMs);
    this.lastReceivedMs = receivedAtMs;
    const stamped: EventEnvelope = Object.assign({}, envelope);
    stamped.originReceivedAt = envelope.originEventId !== 0n ? envelope.originReceivedAt : envelope.receivedAt;
    stamped.originEventId = originId;
    stamped.eventId = BigInt(id);
    stamped.receivedAt = timestampFromMs(receivedAtMs);
    const meta = envelope.correlationMetadata;
    if (meta !== undefined && lineage !== undefined && this.journal !== undefined && this.tracker.get(meta.correlationId) === undefined) {
      this.pendingLineage.set(meta.correlationId, lineage);
    }
    return stamped;
  }

  private recordOrigin(envelope: EventEnvelope, receivedAtMs: number): void {
    const originMs = envelope.originReceivedAt === undefined ? 0 : timestampMs(envelope.originReceivedAt);
    this.origins.record(envelope.hostId, Number(envelope.originEventId), originMs, receivedAtMs);
  }

  /**
   * Stored events after event `id`, and the receive time of the oldest of
   * them (0 when none): a forwarder's lag behind its cursor, counted in
   * history (ids are not dense, so they cannot be subtracted).
   */
  eventsAfter(id: number): { count: number; firstTimeMs: number } {
    return this.history.events.countAfter(id);
  }

  /** Per host, what this broker ingested (a central broker's; empty on a host's own). */
  ingestedHosts() {
    return this.origins.list();
  }

  /** Replays one journaled event at start-up: stored and tracked, not routed. Answers false for a duplicate or out-of-order id. */
  restore(envelope: EventEnvelope): boolean {
    const id = Number(envelope.eventId);
    if (id <= this.lastEventId) return false;
    this.lastEventId = id;
    this.lastCommittedId = id;
    const receivedAtMs = Math.max(envelope.receivedAt === undefined ? 0 : timestampMs(envelope.receivedAt), this.lastReceivedMs);
    this.lastReceivedMs = receivedAtMs;
    this.history.append(envelope, receivedAtMs, this.history.split(envelope, true));
    if (envelope.originEventId !== 0n) this.recordOrigin(envelope, receivedAtMs);
    try {
      this.tracker.observe(envelope, [], receivedAtMs);
    } catch {
      // Lineage the journal holds was accepted once; a record skipped as corrupt can make it look wrong now.
      this.restoreLineageSkipped++;
    }
    // Replay keeps within the memory bound as publishing does: a journal written under a larger bound (or none) still starts.
    this.evictForMemory();
    this.restoredCount++;
    return true;
  }

  /** Replays one journaled workflow fact at start-up, after the events before it. */
  restoreFact(fact: WorkflowFact): void {
    const atMs = fact.at === undefined ? this.lastReceivedMs : timestampMs(fact.at);
    const change = fact.fact;
    const seen = (id: bigint) => {
      this.nextSubscriptionId = Math.max(this.nextSubscriptionId, Number(id) + 1);
      return Number(id);
    };
    switch (change.case) {
      case "taskDelivered": {
        const recipients = change.value.recipients.map((recipient) => ({
          id: seen(recipient.subscriptionId),
          options: { name: recipient.subscriberName, pid: recipient.subscriberPid, pidVerified: recipient.pidVerified, queueGroup: recipient.queueGroup },
        }));
        this.tracker.restoreDeliveries(change.value.correlationId, recipients, atMs);
        break;
      }
      case "recipientLeft":
        this.tracker.recipientGone(seen(change.value.subscriptionId), atMs, change.value.reason);
        break;
      case "recipientResumed":
        this.tracker.move(Number(change.value.previousSubscriptionId), seen(change.value.subscriptionId));
        break;
    }
  }

  /**
   * Ends a start-up replay: deliveries pending when the last broker stopped
   * wait `resumeGraceMs` for their recipients to subscribe again (by name),
   * then count as disconnected (see maintain).
   */
  finishRestore(): void {
    // Segments whose events replay evicted (for memory, or the count and byte bounds) are not needed again.
    if (this.history.events.size > 0) this.journal?.release(this.history.events.firstId - 1);
    this.awaitingResume = this.tracker.awaitResumes();
    this.resumeDeadlineMs = this.now() + this.limits.resumeGraceMs;
  }

  /** Journaled events whose lineage no longer checks (a record before them was skipped as corrupt): restored untracked. */
  get restoreLineageSkippedCount(): number {
    return this.restoreLineageSkipped;
  }

  /**
   * New event ids start after `id`: the journal's mark of every id handed out
   * before, even when the records that held them were lost, deleted or never
   * written. The head stays at the newest stored event.
   */
  continueAfter(id: number): void {
    this.lastEventId = Math.max(this.lastEventId, id);
  }

  /**
   * Refuses the whole batch on the first invalid envelope, lineage conflict or
   * denied topic; changes nothing but counters. Answers each envelope's
   * lineage (by index; undefined without correlation metadata), which stamp
   * remembers instead of working it out again.
   */
  private check(envelopes: readonly EventEnvelope[], peer: PeerIdentity, asBatch: boolean): (Lineage | undefined)[] {
    try {
      this.checkAccess(envelopes, peer);
      if (envelopes.length > this.limits.maxBatchEnvelopes) {
        throw new InvalidInputError("envelopes", `${envelopes.length} envelopes exceeds the limit of ${this.limits.maxBatchEnvelopes}`);
      }
      if (this.lastEventId + envelopes.length > maxEventId) {
        throw new CapacityError(`event ids are used up: ${this.lastEventId} is assigned and the largest event id is ${maxEventId} (2^53-1)`);
      }
      const batchLineage = new Map<string, Lineage>();
      const lookup = (id: string) => batchLineage.get(id) ?? this.pendingLineage.get(id);
      return envelopes.map((envelope, index) => {
        try {
          const meta = envelope.correlationMetadata;
          const checkedBefore = meta !== undefined && this.checkedMetadata.get(meta) === true;
          validateEnvelope(envelope, this.limits, checkedBefore);
          if (meta !== undefined && !checkedBefore) this.checkedMetadata.set(meta, true);
          if (meta === undefined) return undefined;
          const lineage = this.tracker.checkLineage(meta, lookup);
          batchLineage.set(meta.correlationId, lineage);
          return lineage;
        } catch (error) {
          throw error instanceof InvalidInputError && asBatch ? error.under(`envelopes[${index}]`) : error;
        }
      });
    } catch (error) {
      this.rejectedCount += envelopes.length;
      throw error;
    }
  }

  /** Opens a subscription; the caller reads it with `next()` and must `unsubscribe` it. */
  subscribe(input: SubscribeInput, peer: PeerIdentity): Subscription {
    const patterns = this.parsePatterns(input.patterns);
    if (input.queueGroup !== "" && !/^[a-z0-9_-]+$/.test(input.queueGroup)) {
      throw new InvalidInputError("queue_group", `"${input.queueGroup.slice(0, 64)}" must match [a-z0-9_-]+`);
    }
    checkName(input.name, "subscriber_name", this.limits);
    const replays = input.fromEventId !== undefined || input.fromTimeMs !== undefined;
    if (replays && input.queueGroup !== "") {
      throw new InvalidInputError("start", "replay (from_event_id / from_time) cannot be combined with queue_group");
    }
    if (this.router.subscriberCount >= this.limits.maxSubscribers) {
      throw new CapacityError(`${this.router.subscriberCount} subscribers reached the limit of ${this.limits.maxSubscribers} (maxSubscribers)`);
    }
    let replayFromId: number | undefined;
    if (input.fromEventId !== undefined) replayFromId = Math.max(1, input.fromEventId);
    if (input.fromTimeMs !== undefined) {
      const first = this.history.events.firstIdAtOrAfterTime(input.fromTimeMs);
      replayFromId = first === 0 ? this.lastEventId + 1 : first;
    }
    const options: SubscriptionOptions = {
      patterns,
      queueGroup: input.queueGroup,
      name: input.name,
      pid: peer.verified && peer.pid !== undefined ? peer.pid : input.statedPid,
      pidVerified: peer.verified,
      replayFromId,
    };
    const subscription = new Subscription(this.nextSubscriptionId++, options, this.limits.subscriberQueueEvents, {
      firstId: () => this.history.events.firstId,
      lastId: () => this.lastEventId,
      read: (fromId, max, matches) => this.readForReplay(fromId, max, matches, input.encodedOnly === true),
    });
    this.router.add(subscription);
    if (this.awaitingResume.size > 0) {
      for (const previousId of this.tracker.resume(input.name, subscription.id)) {
        this.awaitingResume.delete(previousId);
        this.journal?.recordFact(
          workflowFact(this.now(), {
            case: "recipientResumed",
            value: { previousSubscriptionId: BigInt(previousId), subscriptionId: BigInt(subscription.id) },
          }),
        );
      }
    }
    return subscription;
  }

  /**
   * Ends a subscription from the reader's side; its pending task deliveries
   * become disconnected — unless the broker is shutting down (see
   * beginShutdown): then they stay pending, for the subscriber to resume
   * after a restart.
   */
  unsubscribe(subscription: Subscription): void {
    subscription.close();
    this.router.remove(subscription);
    if (!this.shuttingDown) this.recipientGone(subscription.id, "the subscriber's subscription ended before it answered");
  }

  /**
   * The broker is about to end every subscription because it stops (SIGTERM),
   * not because the subscribers left: their pending deliveries are not
   * journaled as disconnected, so a restart restores them pending and waits
   * `resumeGraceMs` for the subscribers to come back, as after a crash.
   * Otherwise a delivery-tracked workflow half done at a restart could never
   * complete.
   */
  beginShutdown(): void {
    this.shuttingDown = true;
  }

  private recipientGone(subscriptionId: number, reason: string): void {
    const now = this.now();
    if (this.tracker.recipientGone(subscriptionId, now, reason)) {
      this.journal?.recordFact(workflowFact(now, { case: "recipientLeft", value: { subscriptionId: BigInt(subscriptionId), reason } }));
    }
  }

  /**
   * The newest event id stored (0 before the first event), never one only
   * accepted: an id the journal then refused is never stored, and after a
   * restart it is given again, so a head past the stored events would send a
   * subscriber resuming after it past new events.
   */
  get headEventId(): number {
    return this.lastCommittedId;
  }

  /**
   * Waits until the condition holds or `timeoutMs` passes (or `signal`
   * aborts). Catches up from history first, so it may be called before the
   * first result or after the last.
   */
  waitForResults(input: Omit<WaitCondition, "resultPattern"> & { topicPattern: string }, timeoutMs: number, signal?: AbortSignal): Promise<WaitOutcome> {
    checkUuid(input.correlationId, "correlation_id");
    for (const [index, source] of input.expectedSources.entries()) {
      if (source === "") throw new InvalidInputError(`expected_sources[${index}]`, "must not be empty");
      checkName(source, `expected_sources[${index}]`, this.limits);
    }
    if (input.expectedSources.length > this.limits.maxSubscribers) {
      throw new InvalidInputError("expected_sources", `${input.expectedSources.length} sources exceeds the limit of ${this.limits.maxSubscribers}`);
    }
    const resultPattern = input.topicPattern === "" ? resultsPattern : parseTopicPattern(input.topicPattern, "topic_pattern");
    if (timeoutMs > this.limits.maxWaitMs) {
      throw new InvalidInputError("timeout", `${timeoutMs} ms exceeds the limit of ${this.limits.maxWaitMs} ms (maxWaitMs)`);
    }
    this.waiters.checkRoom();
    const waiter = new ResultWaiter({ ...input, resultPattern });
    const list = this.history.correlationList(input.correlationId);
    for (let i = 0; list !== undefined && i < list.size; i++) {
      const event = this.history.get(list.at(i));
      if (event !== undefined) waiter.observe(event);
    }
    const immediate = waiter.evaluate(this.tracker.get(input.correlationId));
    if (immediate !== undefined) return Promise.resolve(immediate);
    // Already aborted: no abort event will come, so the wait would hold its slot until the timeout.
    if (signal?.aborted) return Promise.resolve(waiter.deadline(this.tracker.get(input.correlationId)));
    return new Promise((resolve) => {
      const pending: PendingWait = { waiter, finish: () => {} };
      const timer = setTimeout(() => pending.finish(waiter.deadline(this.tracker.get(input.correlationId))), timeoutMs);
      const onAbort = () => pending.finish(waiter.deadline(this.tracker.get(input.correlationId)));
      pending.finish = (outcome) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        this.waiters.remove(input.correlationId, pending);
        resolve(outcome);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.add(input.correlationId, pending);
    });
  }

  /** Events whose tags match all pairs, via the tag index (never a history scan). */
  findByTag(query: TagQuery): TagQueryPage {
    const entries = Object.entries(query.tags);
    if (entries.length === 0) throw new InvalidInputError("tags", "at least one key=value pair is required");
    validateTags(query.tags, "tags", this.limits.maxQueryTags, this.limits);
    const limit = this.pageLimit(query.limit, defaultFindLimit, this.limits.maxFindLimit, "limit");
    const pattern = query.topicPattern === "" ? undefined : parseTopicPattern(query.topicPattern, "topic_pattern");
    const hostId = query.hostId === undefined || query.hostId === "" ? undefined : checkHostId(query.hostId);
    const lists = entries.map(([key, value]) => this.history.tagList(key, value));
    // Another host's events are indexed by host (a central's ingest); the broker's own are checked one by one.
    const hostIndexed = hostId !== undefined && hostId !== this.hostId;
    if (hostIndexed) lists.push(this.history.hostList(hostId));
    if (lists.some((list) => list === undefined)) return { ids: [], nextCursor: 0 };
    const sorted = (lists as NonNullable<(typeof lists)[number]>[]).sort((a, b) => a.size - b.size);
    const [driver, ...others] = sorted;
    // The id window from the time range and the cursor.
    let low = query.sinceMs === undefined ? 0 : this.history.events.firstIdAtOrAfterTime(query.sinceMs) || Infinity;
    let high = query.untilMs === undefined ? Infinity : (this.history.events.firstIdAtOrAfterTime(query.untilMs) || Infinity) - 1;
    if (query.cursor > 0) {
      if (query.oldestFirst) low = Math.max(low, query.cursor + 1);
      else high = Math.min(high, query.cursor - 1);
    }
    const ids: number[] = [];
    const step = query.oldestFirst ? 1 : -1;
    // The other lists are asked in the driver's order: each cursor gallops on from its last place.
    const cursors = others.map((list) => new IdListCursor(list, query.oldestFirst));
    let index = query.oldestFirst ? driver.lowerBound(low) : driver.lowerBound(high + 1) - 1;
    walk: for (; index >= 0 && index < driver.size; index += step) {
      const id = driver.at(index);
      if (id < low || id > high) break;
      for (const cursor of cursors) if (!cursor.contains(id)) continue walk;
      if (pattern !== undefined && !topicMatches(pattern, peekTopic(this.history.events.getBytes(id) as Uint8Array))) continue;
      if (hostId !== undefined && !hostIndexed && peekHostId(this.history.events.getBytes(id) as Uint8Array) !== hostId) continue;
      if (ids.length === limit) return { ids, nextCursor: ids[ids.length - 1] };
      ids.push(id);
    }
    return { ids, nextCursor: 0 };
  }

  /** A workflow's events (ids, ascending) and its correlations, parents first. */
  timeline(rootId: string, afterId: number, requestedLimit: number): { ids: number[]; truncated: boolean; correlations: CorrelationView[] } {
    checkUuid(rootId, "root_correlation_id");
    const limit = this.pageLimit(requestedLimit, defaultTimelineLimit, this.limits.maxTimelineLimit, "limit");
    const list = this.history.rootList(rootId);
    const tracked = this.tracker.underRoot(rootId);
    if (list === undefined && tracked.length === 0) {
      // A step's own id is the usual mistake: name the workflow it belongs to.
      const step = this.tracker.get(rootId);
      if (step !== undefined && step.rootId !== rootId) {
        throw new NotFoundError(`${rootId} is not a root: it is a step of workflow ${step.rootId}; ask for root_correlation_id ${step.rootId}`);
      }
      throw new NotFoundError(`no workflow with root_correlation_id ${rootId} in history`);
    }
    const ids: number[] = [];
    let truncated = false;
    if (list !== undefined) {
      for (let index = list.lowerBound(afterId + 1); index < list.size; index++) {
        if (ids.length === limit) {
          truncated = true;
          break;
        }
        ids.push(list.at(index));
      }
    }
    return { ids, truncated, correlations: this.correlationsOf(rootId, tracked) };
  }

  /** One correlation's state. */
  workflow(correlationId: string): CorrelationView {
    checkUuid(correlationId, "correlation_id");
    const state = this.tracker.get(correlationId);
    if (state === undefined) {
      const list = this.history.correlationList(correlationId);
      const rebuilt = list === undefined ? undefined : this.rebuild(list);
      if (rebuilt === undefined) throw new NotFoundError(`correlation ${correlationId} is not tracked and has no events in history`);
      return this.view(rebuilt, false, this.tracker.underRoot(rebuilt.rootId));
    }
    return this.view(state, true, this.tracker.underRoot(state.rootId));
  }

  /** Stored event `id` as wire bytes, without decoding (payload left out when asked). */
  eventBytes(id: number, omitPayload = false): Uint8Array | undefined {
    const encoded = this.history.encoded(id);
    return encoded === undefined || !omitPayload ? encoded : withoutPayload(encoded);
  }

  /** The length of eventBytes(id) (payload kept), without making it; -1 when `id` is not held. */
  eventSize(id: number): number {
    return this.history.encodedSize(id);
  }

  /** Writes eventBytes(id) (payload kept) into `out` from `at`, which has room for eventSize(id) bytes; answers where it ends. */
  writeEvent(id: number, out: Buffer, at: number): number {
    return this.history.writeEncoded(id, out, at);
  }

  /** Decodes stored event `id`. */
  event(id: number): EventEnvelope | undefined {
    return this.history.get(id);
  }

  /** Periodic upkeep: idle workflow expiry, history retention (and the journal's with it). */
  maintain(): void {
    const now = this.now();
    if (this.awaitingResume.size > 0 && now >= this.resumeDeadlineMs) {
      const reason = `the broker restarted and the subscriber did not subscribe again within ${this.limits.resumeGraceMs / 1000} s`;
      for (const subscriptionId of this.awaitingResume) this.recipientGone(subscriptionId, reason);
      this.awaitingResume.clear();
    }
    this.tracker.sweep(now);
    const expired = this.history.events.evictReceivedBefore(now - this.limits.historyMaxAgeMs);
    if (expired > 0) {
      this.expiredCount += expired;
      this.journal?.release(this.history.events.size === 0 ? this.lastEventId : this.history.events.firstId - 1);
    }
  }

  /** Ends every subscription and wait (shutdown). */
  close(): void {
    this.waiters.finishAll((pending) => pending.waiter.deadline(this.tracker.get(pending.waiter.condition.correlationId)));
  }

  stats(): BrokerStats {
    return {
      eventsPublished: this.publishedCount,
      eventsStored: this.history.events.size,
      bytesStored: this.history.events.bytes,
      eventsEvicted: this.history.events.evictions - this.history.memoryEvictions,
      historyMaxEvents: this.limits.historyMaxEvents,
      historyMaxBytes: this.limits.historyMaxBytes,
      eventsDelivered: this.router.delivered,
      subscribers: this.router.subscriberCount,
      subscribersCutOff: this.router.cutOffs,
      eventsDropped: this.router.dropped,
      publishesRejected: this.rejectedCount,
      workflowsActive: this.tracker.active,
      workflowsExpired: this.tracker.expired,
      workflowsEvicted: this.tracker.evicted,
      lineageRejected: this.tracker.lineageRejected,
      orphans: this.tracker.orphans,
      waiters: this.waiters.count,
      lastEventId: this.lastCommittedId,
      startedAtMs: this.startedAtMs,
      eventsRestored: this.restoredCount,
      eventsExpired: this.expiredCount,
      permissionDenied: this.deniedCount,
      ingest: {
        hosts: this.origins.size,
        maxHosts: this.origins.maxHosts,
        hostsForgotten: this.origins.forgotten,
        duplicates: this.origins.duplicates,
        refused: this.ingestRefused,
      },
      indexes: this.history.indexSizes,
      memory: {
        limitBytes: this.limits.memoryLimitBytes,
        historyBytes: this.history.retainedBytes,
        workflowBytes: this.tracker.retainedBytes,
        eventsEvicted: this.history.memoryEvictions,
        workflowsEvicted: this.tracker.memoryEvicted,
      },
    };
  }

  private checkAccess(envelopes: readonly EventEnvelope[], peer: PeerIdentity): void {
    const permitted = this.access.controlUids;
    if (permitted === undefined || !peer.verified || peer.uid === undefined || permitted.includes(peer.uid)) return;
    const control = envelopes.find((envelope) => isControlTopic(envelope.topic));
    if (control === undefined) return;
    this.deniedCount++;
    this.access.onDenied?.({ uid: peer.uid, pid: peer.pid, topic: control.topic });
    throw new PermissionDeniedError(
      `uid ${peer.uid} may not publish to control.# ("${control.topic.slice(0, 64)}"); permitted uids: ${permitted.join(", ")} (--control-uid)`,
    );
  }

  /**
   * Answers a stamped copy of the envelope (the caller's message is left as it
   * was): the event id, the receive time and the publisher. Remembers
   * the envelope's lineage, as check() found it, until commit. Within a batch
   * check() saw the same earlier envelopes stamp has pending, so its lineage
   * is the one stamp would work out.
   */
  private stamp(envelope: EventEnvelope, peer: PeerIdentity, lineage: Lineage | undefined): EventEnvelope {
    const id = ++this.lastEventId;
    // Receive times never decrease, so time ranges map to id ranges.
    const receivedAtMs = Math.max(this.now(), this.lastReceivedMs);
    this.lastReceivedMs = receivedAtMs;
    // A shallow copy keeps $typeName, unknown fields, the bytes it was received as (storage keeps those) and every field but the stamps.
    // Object.assign, not a spread: V8 gives each spread copy a map of its own, so the wire form added later cost a new map per event.
    const stamped: EventEnvelope = Object.assign({}, envelope);
    stamped.eventId = BigInt(id);
    stamped.receivedAt = timestampFromMs(receivedAtMs);
    stamped.publisher = this.identify(envelope.publisherProcessId, peer);
    stamped.hostId = this.hostId;
    stamped.originEventId = 0n;
    stamped.originReceivedAt = undefined;
    const meta = envelope.correlationMetadata;
    if (meta !== undefined && lineage !== undefined && this.journal !== undefined && this.tracker.get(meta.correlationId) === undefined) {
      this.pendingLineage.set(meta.correlationId, lineage);
    }
    return stamped;
  }

  /** Stores, tracks and routes a stamped event. */
  private commitOne(envelope: EventEnvelope, split: SplitEnvelope, whole: Uint8Array): PublishResult {
    const receivedAtMs = timestampMs(envelope.receivedAt as Timestamp);
    this.lastCommittedId = Number(envelope.eventId);
    const firstBefore = this.history.events.firstId;
    this.history.append(envelope, receivedAtMs, split);
    // Subscribers are sent these bytes; nobody encodes the event again.
    rememberEncoding(envelope, whole);
    this.forgetPending(envelope);
    const recipients = this.router.route(envelope);
    this.tracker.observe(envelope, recipients, receivedAtMs);
    this.evictForMemory();
    const meta = envelope.correlationMetadata;
    if (this.journal !== undefined && recipients.length > 0 && meta !== undefined && isControlTopic(envelope.topic)) {
      this.journal.recordFact(
        workflowFact(receivedAtMs, {
          case: "taskDelivered",
          value: { eventId: envelope.eventId, correlationId: meta.correlationId, recipients: recipients.map(taskRecipient) },
        }),
      );
    }
    this.publishedCount++;
    const firstAfter = this.history.events.firstId;
    if (firstAfter !== firstBefore) this.journal?.release(firstAfter - 1);
    return { eventId: Number(envelope.eventId), deliveredCount: recipients.length, receivedAtMs };
  }

  /** Oldest events out while history and the tracked correlations together retain more than memoryLimitBytes. */
  private evictForMemory(): void {
    this.history.evictForMemory(this.limits.memoryLimitBytes - this.tracker.retainedBytes);
  }

  private forgetPending(envelope: EventEnvelope): void {
    const meta = envelope.correlationMetadata;
    if (meta !== undefined) this.pendingLineage.delete(meta.correlationId);
  }

  private identify(statedPid: number, peer: PeerIdentity): PublisherIdentity {
    // A connection publishes as the same identity event after event: one shared, never-modified message.
    const last = this.lastIdentity;
    if (last !== undefined && last.peer === peer && last.statedPid === statedPid) return last.identity;
    const identity = this.newIdentity(statedPid, peer);
    this.lastIdentity = { peer, statedPid, identity };
    return identity;
  }

  private newIdentity(statedPid: number, peer: PeerIdentity): PublisherIdentity {
    if (!peer.verified || peer.pid === undefined) {
      return create(PublisherIdentitySchema, { pid: statedPid, statedPid, verified: false });
    }
    return create(PublisherIdentitySchema, {
      pid: peer.pid,
      uid: peer.uid,
      gid: peer.gid,
      verified: true,
      statedPid,
      statedPidMismatch: statedPid !== 0 && statedPid !== peer.pid,
    });
  }

  private parsePatterns(patterns: readonly string[]): TopicPattern[] {
    if (patterns.length === 0) throw new InvalidInputError("patterns", "at least one pattern is required");
    if (patterns.length > this.limits.maxPatterns) {
      throw new InvalidInputError("patterns", `${patterns.length} patterns exceeds the limit of ${this.limits.maxPatterns}`);
    }
    return patterns.map((text, index) => parseTopicPattern(text, `patterns[${index}]`));
  }

  private pageLimit(requested: number, fallback: number, max: number, field: string): number {
    if (requested === 0) return fallback;
    if (requested > max) throw new InvalidInputError(field, `${requested} exceeds the limit of ${max}`);
    return requested;
  }

  /** Replay reads: bounded per step so one subscriber cannot hog the loop. `encodedOnly`: see SubscribeInput. */
  private readForReplay(fromId: number, max: number, matches: (topic: string) => boolean, encodedOnly: boolean) {
    const events: EventEnvelope[] = [];
    let scanned = 0;
    const scanBudget = Math.max(4096, max * 16);
    const nextId = this.history.events.scanFrom(fromId, (id, bytes) => {
      scanned++;
      if (matches(peekTopic(bytes))) {
        const event = encodedOnly ? create(EventEnvelopeSchema, { eventId: BigInt(id) }) : this.history.get(id);
        const encoded = this.history.encoded(id);
        if (event !== undefined && encoded !== undefined) {
          rememberEncoding(event, encoded);
          events.push(event);
        }
      }
      return events.length < max && scanned < scanBudget;
    });
    return { events, nextId };
  }

  private correlationsOf(rootId: string, tracked: CorrelationState[]): CorrelationView[] {
    const states = new Map(tracked.map((state) => [state.id, state]));
    const all = [...tracked];
    // Correlations the tracker has forgotten are rebuilt from their stored events (only those are decoded).
    for (const correlationId of this.history.correlationsUnder(rootId).keys()) {
      if (states.has(correlationId)) continue;
      const list = this.history.correlationList(correlationId);
      const rebuilt = list === undefined ? undefined : this.rebuild(list);
      if (rebuilt !== undefined) all.push(rebuilt);
    }
    const isTracked = new Set(tracked.map((state) => state.id));
    const views = all.map((state) => this.view(state, isTracked.has(state.id), all));
    return orderParentsFirst(rootId, views);
  }

  private view(state: CorrelationState, tracked: boolean, family: CorrelationState[]): CorrelationView {
    const parentId = state.parentId;
    const orphan = parentId !== undefined && this.tracker.get(parentId) === undefined && this.history.correlationList(parentId) === undefined;
    const childIds = family.filter((other) => other.parentId === state.id).map((other) => other.id);
    return { state, orphan, childIds, tracked };
  }

  /** A minimal state from stored events, for a correlation the tracker no longer holds. */
  private rebuild(list: { size: number; at(i: number): number }): CorrelationState | undefined {
    let state: CorrelationState | undefined;
    for (let index = 0; index < list.size; index++) {
      const id = list.at(index);
      const event = this.history.get(id);
      const meta = event?.correlationMetadata;
      if (event === undefined || meta === undefined) continue;
      const at = this.history.events.getTime(id) ?? 0;
      state ??= newCorrelationState(meta.correlationId, { parentId: meta.parentCorrelationId, rootId: meta.rootCorrelationId, depth: 0 }, at);
      state.totalEvents++;
      state.lastAt = at;
    }
    return state;
  }
}

function workflowFact(atMs: number, fact: MessageInitShape<typeof WorkflowFactSchema>["fact"]): WorkflowFact {
  return create(WorkflowFactSchema, { at: timestampFromMs(atMs), fact });
}

function taskRecipient(recipient: Recipient): MessageInitShape<typeof TaskRecipientSchema> {
  const { name, pid, pidVerified, queueGroup } = recipient.options;
  return { subscriptionId: BigInt(recipient.id), subscriberName: name, subscriberPid: pid, pidVerified, queueGroup };
}

/** Breadth-first from the root; correlations not reachable from it (orphans) follow, oldest first. */
function orderParentsFirst(rootId: string, views: CorrelationView[]): CorrelationView[] {
  const byId = new Map(views.map((view) => [view.state.id, view]));
  const ordered: CorrelationView[] = [];
  const seen = new Set<string>();
  const queue = byId.has(rootId) ? [rootId] : [];
  while (queue.length > 0) {
    const id = queue.shift() as string;
    const view = byId.get(id);
    if (view === undefined || seen.has(id)) continue;
    seen.add(id);
    ordered.push(view);
    queue.push(...view.childIds);
  }
  const rest = views.filter((view) => !seen.has(view.state.id)).sort((a, b) => a.state.firstAt - b.state.firstAt);
  return [...ordered, ...rest];
}
