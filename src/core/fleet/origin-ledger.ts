import { RecencyMap } from "../../wire/recency-map.js";

/**
 * What a central broker knows of one host it ingests events from.
 */
export interface HostIngest {
  hostId: string;
  /** Events of this host stored here. */
  events: number;
  /** Copies of events already stored here, dropped. */
  duplicates: number;
  /** Highest origin event id stored. */
  lastOriginEventId: number;
  /** received_at on the host of the newest event stored (ms), 0 before the first. */
  lastOriginReceivedMs: number;
  /** When this broker stored it (ms). */
  lastIngestedMs: number;
}

/** The forwarder's bound on publishes in flight: a lost publish sent again reaches the stream at most that many places late. */
export const maxForwardInFlight = 256;

/**
 * The central broker's bound on messages delivered and not yet acknowledged:
 * after it dies, JetStream delivers those again behind at most that many newer
 * ones (what the restarted broker took before their ack wait ran out).
 */
export const maxIngestAckPending = 1024;

/**
 * Most origin ids remembered per host to tell a copy from a new event: an
 * event of a host arrives at most maxForwardInFlight + maxIngestAckPending
 * places behind where it belongs, and twice that is remembered.
 */
export const originWindow = 2 * (maxForwardInFlight + maxIngestAckPending);

interface HostEntry extends HostIngest {
  /** Origin ids of the last `originWindow` events stored, in arrival order (a ring). */
  ring: number[];
  next: number;
  recent: Set<number>;
  /** Highest id that left the ring: anything at or below it, not in `recent`, arrived before and is a copy. */
  floor: number;
}

/**
 * OriginLedger dedups a central broker's ingest on (host id, origin event id)
 * with bounded memory: per host the last `originWindow` ids stored and the
 * highest one older than those. At-least-once delivery (a stream redelivering
 * what the central broker stored but had not acknowledged when it died, a
 * forwarder publishing again what it had not seen acknowledged) then stores
 * each event once. Hosts are bounded too (`maxHosts`, least recently active
 * forgotten first and counted): a forgotten host's late copies would be
 * stored again, so the bound is set well above a fleet's size.
 */
export class OriginLedger {
  /** Least recently active first: the eviction order. */
  private readonly hosts = new RecencyMap<string, HostEntry>();
  /** Hosts forgotten for the bound. */
  forgotten = 0;
  duplicates = 0;

  constructor(readonly maxHosts: number) {}

  /** Whether (host, origin id) was stored already. */
  has(hostId: string, originId: number): boolean {
    const entry = this.hosts.get(hostId);
    if (entry === undefined) return false;
    return entry.recent.has(originId) || originId <= entry.floor;
  }

  /** Notes a copy dropped. */
  duplicate(hostId: string): void {
    this.duplicates++;
    const entry = this.hosts.get(hostId);
    if (entry !== undefined) entry.duplicates++;
  }

  /** Records (host, origin id) as stored. */
  record(hostId: string, originId: number, originReceivedMs: number, nowMs: number): void {
    let entry = this.hosts.get(hostId);
    if (entry === undefined) {
      entry = {
        hostId,
        events: 0,
        duplicates: 0,
        lastOriginEventId: 0,
        lastOriginReceivedMs: 0,
        lastIngestedMs: 0,
        ring: [],
        next: 0,
        recent: new Set(),
        floor: 0,
      };
      if (this.hosts.size >= this.maxHosts) this.forgetOldest();
    }
    this.hosts.set(hostId, entry);
    if (entry.ring.length < originWindow) {
      entry.ring.push(originId);
    } else {
      const leaving = entry.ring[entry.next];
      entry.recent.delete(leaving);
      entry.floor = Math.max(entry.floor, leaving);
      entry.ring[entry.next] = originId;
      entry.next = (entry.next + 1) % originWindow;
    }
    entry.recent.add(originId);
    entry.events++;
    entry.lastOriginEventId = Math.max(entry.lastOriginEventId, originId);
    entry.lastOriginReceivedMs = Math.max(entry.lastOriginReceivedMs, originReceivedMs);
    entry.lastIngestedMs = nowMs;
  }

  get size(): number {
    return this.hosts.size;
  }

  /** Every host, most recently active last. */
  list(): HostIngest[] {
    return [...this.hosts.values()].map(({ hostId, events, duplicates, lastOriginEventId, lastOriginReceivedMs, lastIngestedMs }) => ({
      hostId,
      events,
      duplicates,
      lastOriginEventId,
      lastOriginReceivedMs,
      lastIngestedMs,
    }));
  }

  private forgetOldest(): void {
    if (this.hosts.takeOldest() !== undefined) this.forgotten++;
  }
}
