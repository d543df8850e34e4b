import type { EventEnvelope } from "../../../gen/corrbus/v1/envelope_pb.js";
import type { Subscription } from "./subscription.js";

/**
 * TopicRouter delivers each event to every matching subscriber, and to exactly
 * one member (round-robin) of each matching queue group. Members of a group
 * share its name and patterns, as in NATS. A subscriber whose queue is full is
 * cut off on the spot; the publisher never waits.
 */
export class TopicRouter {
  private readonly plain = new Set<Subscription>();
  private readonly groups = new Map<string, QueueGroup>();
  private cutOffCount = 0;
  private droppedCount = 0;
  private deliveredCount = 0;

  constructor(
    /** Told about every subscriber the router cuts off, after it was removed. */
    private readonly onCutOff: (subscription: Subscription) => void = () => {},
  ) {}

  /** Subscribers registered now. */
  get subscriberCount(): number {
    let count = this.plain.size;
    for (const group of this.groups.values()) count += group.members.length;
    return count;
  }

  /** Subscribers cut off for overflowing since start. */
  get cutOffs(): number {
    return this.cutOffCount;
  }

  /** Events dropped with cut-off subscribers (their queued events plus the one that did not fit). */
  get dropped(): number {
    return this.droppedCount;
  }

  /** Successful deliveries since start. */
  get delivered(): number {
    return this.deliveredCount;
  }

  add(subscription: Subscription): void {
    const group = subscription.options.queueGroup;
    if (group === "") {
      this.plain.add(subscription);
      return;
    }
    const key = groupKey(subscription);
    let entry = this.groups.get(key);
    if (entry === undefined) {
      entry = { members: [], next: 0 };
      this.groups.set(key, entry);
    }
    entry.members.push(subscription);
  }

  remove(subscription: Subscription): void {
    if (this.plain.delete(subscription)) return;
    const key = groupKey(subscription);
    const entry = this.groups.get(key);
    if (entry === undefined) return;
    const index = entry.members.indexOf(subscription);
    if (index < 0) return;
    entry.members.splice(index, 1);
    if (index < entry.next) entry.next--;
    if (entry.members.length === 0) this.groups.delete(key);
  }

  /** Routes `event`; answers the subscriptions that accepted it. */
  route(event: EventEnvelope): Subscription[] {
    const recipients: Subscription[] = [];
    for (const subscription of this.plain) {
      if (subscription.matches(event.topic) && this.deliver(subscription, event)) {
        recipients.push(subscription);
      }
    }
    for (const group of this.groups.values()) {
      if (!group.members[0].matches(event.topic)) continue;
      const member = this.deliverToOne(group, event);
      if (member !== undefined) recipients.push(member);
    }
    return recipients;
  }

  /** Picks members round-robin until one accepts; overflowing ones are cut off. */
  private deliverToOne(group: QueueGroup, event: EventEnvelope): Subscription | undefined {
    while (group.members.length > 0) {
      if (group.next >= group.members.length) group.next = 0;
      const member = group.members[group.next];
      group.next++;
      if (this.deliver(member, event)) return member;
    }
    return undefined;
  }

  private deliver(subscription: Subscription, event: EventEnvelope): boolean {
    if (subscription.closed) {
      // Its reader left and the server has not removed it yet: not a cut-off.
      this.remove(subscription);
      return false;
    }
    if (subscription.offer(event)) {
      this.deliveredCount++;
      return true;
    }
    this.cutOff(subscription);
    return false;
  }

  private cutOff(subscription: Subscription): void {
    this.remove(subscription);
    this.cutOffCount++;
    this.droppedCount += subscription.close(subscription.overflowError()) + 1;
    this.onCutOff(subscription);
  }
}

interface QueueGroup {
  members: Subscription[];
  /** Index of the member that gets the next event. */
  next: number;
}

function groupKey(subscription: Subscription): string {
  const patterns = subscription.options.patterns.map((p) => p.text).sort();
  return `${subscription.options.queueGroup}\u0000${patterns.join("\u0000")}`;
}
