// The broker's ports: what the core asks of its surroundings (journal, access policy, the peer a
// transport vouches for) and the shapes of what it answers. Kept apart from the broker so the
// storage and server layers can name them without reaching into its implementation.
import type { EventEnvelope } from "../../gen/corrbus/v1/envelope_pb.js";
import type { WorkflowFact } from "../../gen/corrbus/v1/journal_pb.js";
import type { SplitEnvelope } from "../wire/stored-envelope.js";
import type { CorrelationState } from "./tracking/workflow-tracker.js";

/**
 * Durable storage of accepted events, in event_id order (the journal, in
 * src/storage). The core only needs these calls.
 */
export interface EventJournal {
  /** Persists stamped events (their whole encodings, in id order); resolves once durable under the journal's policy. */
  append(events: readonly { id: number; encoded: Uint8Array }[]): Promise<void>;
  /** Persists a workflow fact the events cannot tell, after the events appended so far; nobody waits for it. */
  recordFact(fact: WorkflowFact): void;
  /** Events with id <= `throughId` left history: storage that holds only those may go. */
  release(throughId: number): void;
}

/** Who may do what. */
export interface AccessPolicy {
  /**
   * Uids allowed to publish to control.# (tasks for collectors). Undefined:
   * everyone. The server passes the broker's own uid and root, plus any
   * --control-uid. Peers the kernel could not vouch for (Windows pipes, whose
   * ACL already restricts access) are not checked.
   */
  controlUids?: readonly number[];
  /** Told of every publish refused by this policy (the server logs them). */
  onDenied?: (denial: { uid: number; pid: number | undefined; topic: string }) => void;
}

/** Who is on the other end of a connection, as the transport knows it. */
export interface PeerIdentity {
  /** Kernel-reported pid, uid, gid when `verified`. */
  pid?: number;
  uid?: number;
  gid?: number;
  /** True when the kernel vouched for the ids. */
  verified: boolean;
}

/**
 * A batch checked and stamped by `CorrelationBroker.accept`, not yet
 * committed: the stamped events, each split for history and encoded whole for
 * the journal and subscribers (all three by index).
 */
export interface AcceptedEvents {
  readonly stamped: readonly EventEnvelope[];
  readonly splits: readonly SplitEnvelope[];
  readonly wholes: readonly Uint8Array[];
}

/** The broker's answer to an accepted event. */
export interface PublishResult {
  eventId: number;
  deliveredCount: number;
  receivedAtMs: number;
}

/** A subscribe call, as the service layer hands it over. */
export interface SubscribeInput {
  patterns: readonly string[];
  queueGroup: string;
  name: string;
  statedPid: number;
  fromEventId?: number;
  fromTimeMs?: number;
  /**
   * Replayed events only as their encoding: each carries its event_id and its
   * whole stamped wire form (encodingOf), and no other field. For a caller
   * that sends the bytes as they are (the binary wire): decoding every stored
   * event of a replay only to send its bytes was much of the broker's time
   * there. Live events are whole either way. Default false.
   */
  encodedOnly?: boolean;
}

/** A FindByTag query. */
export interface TagQuery {
  tags: Record<string, string>;
  topicPattern: string;
  /** Only events of this host; "" or unset for all. */
  hostId?: string;
  sinceMs?: number;
  untilMs?: number;
  /** 0 for the default. */
  limit: number;
  /** Continue after this event id (from a page token); 0 to start. */
  cursor: number;
  oldestFirst: boolean;
}

/** One page of FindByTag. */
export interface TagQueryPage {
  ids: number[];
  /** Cursor for the next page, or 0 on the last page. */
  nextCursor: number;
}

/** A correlation as timeline and workflow queries show it. */
export interface CorrelationView {
  state: CorrelationState;
  orphan: boolean;
  childIds: string[];
  /** False when the tracker had forgotten it and it was rebuilt from stored events. */
  tracked: boolean;
}

/** Counters for GetStats. */
export interface BrokerStats {
  eventsPublished: number;
  eventsStored: number;
  bytesStored: number;
  eventsEvicted: number;
  historyMaxEvents: number;
  historyMaxBytes: number;
  eventsDelivered: number;
  subscribers: number;
  subscribersCutOff: number;
  eventsDropped: number;
  publishesRejected: number;
  workflowsActive: number;
  workflowsExpired: number;
  workflowsEvicted: number;
  lineageRejected: number;
  orphans: number;
  waiters: number;
  /** The newest event stored (the head): ids refused by the journal, and ids skipped at a restart, are never shown here. */
  lastEventId: number;
  startedAtMs: number;
  eventsRestored: number;
  eventsExpired: number;
  permissionDenied: number;
  /** A central broker's ingest (all 0 on a host's own broker). */
  ingest: { hosts: number; maxHosts: number; hostsForgotten: number; duplicates: number; refused: number };
  indexes: { tags: number; correlations: number; roots: number; hosts: number; templates: number };
  /** The memory bound (memoryLimitBytes): the limit, what history and the tracker are estimated to retain, what it evicted. */
  memory: { limitBytes: number; historyBytes: number; workflowBytes: number; eventsEvicted: number; workflowsEvicted: number };
}

/** A broker's place in a fleet. */
export interface BrokerFleetOptions {
  /**
   * Stamped as host_id on every event accepted from a publisher (1-64 of
   * [A-Za-z0-9_-]). Default "": no host id (a broker in a test, or one that
   * never leaves its host); the server passes the machine-id.
   */
  hostId?: string;
  /** Hosts a central broker tells apart for its dedup (see OriginLedger). Default 1024. */
  maxIngestHosts?: number;
}

/** What one ingest batch came to. */
export interface IngestOutcome {
  stored: number;
  /** Events already stored here (same host and origin event id), dropped. */
  duplicates: number;
  /** Events refused, each with why; the rest of the batch was stored. */
  refused: { index: number; hostId: string; originEventId: number; reason: string }[];
}
