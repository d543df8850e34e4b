import { PubHeaders } from "@nats-io/jetstream";
import { type Msg, type NatsConnection, type Subscription, createInbox, headers } from "@nats-io/transport-node";

/** What JetStream answered for one message. */
export interface PubAck {
  /** The stream had it already (same Nats-Msg-Id within its duplicate window). */
  duplicate: boolean;
}

/** How long a message may wait for its PubAck. Default 5 s (as js.publish's timeout was). */
const defaultAckTimeoutMs = 5000;

interface Pending {
  sentMs: number;
  resolve: (ack: PubAck) => void;
  reject: (error: Error) => void;
}

/**
 * Publishes into JetStream with each message's PubAck coming to one wildcard
 * subscription (`<inbox>.<n>`), matched to its message by the reply
 * subject's last token. js.publish makes a request per message (an inbox
 * mux entry, a timer, and error objects made up front for their stack
 * traces), which cost the forwarder more than the broker's own Publish.
 * One timer checks the oldest message waiting: past `ackTimeoutMs` every
 * waiting publish fails, as a timeout of the stream. Waiting publishes are
 * bounded by the caller's window (they are its in-flight ones).
 */
export class PubAckPipeline {
  private readonly inbox = createInbox();
  private readonly subscription: Subscription;
  /** Insertion order is send order: the first is the oldest. */
  private readonly waiting = new Map<number, Pending>();
  private next = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly decoder = new TextDecoder();

  constructor(
    private readonly nc: NatsConnection,
    private readonly ackTimeoutMs = defaultAckTimeoutMs,
  ) {
    this.subscription = nc.subscribe(`${this.inbox}.*`, { callback: (error, message) => this.answered(error, message) });
    this.timer = setInterval(() => this.expire(), Math.max(10, Math.min(1000, ackTimeoutMs / 5)));
    this.timer.unref();
  }

  /** Messages sent and not answered yet. */
  get waitingCount(): number {
    return this.waiting.size;
  }

  /** Publishes `data` on `subject` with `Nats-Msg-Id: msgId`; resolves with its PubAck, rejects with JetStream's refusal or a timeout. */
  publish(subject: string, data: Uint8Array, msgId: string): Promise<PubAck> {
    const token = ++this.next;
    const header = headers();
    header.set(PubHeaders.MsgIdHdr, msgId);
    return new Promise((resolve, reject) => {
      this.waiting.set(token, { sentMs: Date.now(), resolve, reject });
      try {
        this.nc.publish(subject, data, { headers: header, reply: `${this.inbox}.${token}` });
      } catch (error) {
        this.waiting.delete(token);
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
  }

  /** Stops listening: publishes still waiting fail. */
  close(): void {
    clearInterval(this.timer);
    this.subscription.unsubscribe();
    this.failAll(new Error("the PubAck pipeline closed before JetStream answered"));
  }

  private answered(error: Error | null, message: Msg): void {
    const token = Number(message.subject.slice(this.inbox.length + 1));
    const pending = this.waiting.get(token);
    if (pending === undefined) return;
    this.waiting.delete(token);
    if (error !== null) {
      pending.reject(error);
      return;
    }
    // No stream took the subject: nats-server answers with a 503 status and no body.
    if (message.headers?.hasError) {
      pending.reject(new Error(`JetStream did not take the message: ${message.headers.code} ${message.headers.description || "no responders"}`));
      return;
    }
    let ack: { error?: { code?: number; description?: string }; duplicate?: boolean };
    try {
      ack = JSON.parse(this.decoder.decode(message.data));
    } catch {
      pending.reject(new Error(`JetStream answered with something that is not a PubAck: ${this.decoder.decode(message.data).slice(0, 100)}`));
      return;
    }
    if (ack.error !== undefined) pending.reject(new Error(`JetStream refused the message: ${ack.error.code ?? ""} ${ack.error.description ?? ""}`.trim()));
    else pending.resolve({ duplicate: ack.duplicate === true });
  }

  private expire(): void {
    // Once a tick: walking past the entries deleted since the map's last rehash is cheap at this rate.
    const oldest = this.waiting.values().next();
    if (oldest.done || Date.now() - oldest.value.sentMs < this.ackTimeoutMs) return;
    this.failAll(new Error(`no PubAck from JetStream within ${this.ackTimeoutMs} ms (timeout)`));
  }

  private failAll(error: Error): void {
    const pending = [...this.waiting.values()];
    this.waiting.clear();
    for (const one of pending) one.reject(error);
  }
}
