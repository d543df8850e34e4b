import { retainedSize } from "../retained-size.js";
import { NumberColumn } from "./number-column.js";

/**
 * EventHistory keeps accepted events compactly: the encoded envelope bytes are
 * copied into large shared chunks and each event costs seven numbers in typed
 * columns (id, receive time, chunk, offset, length, counted size, extra: 36 B).
 * A decoded protobuf-es envelope retains ~1.1 KB; this keeps the encoded size
 * plus those 36 B.
 *
 * Events are appended in strictly increasing id order and evicted oldest first
 * when the count or byte bound is exceeded; `onEvict` lets indexes drop their
 * entries for an event before its bytes are released. Each event may carry one
 * number for its owner (`extra`, e.g. a shared-metadata id) and count for more
 * bytes than it stores (`countedBytes`, e.g. with its shared metadata).
 */
export class EventHistory {
  private readonly ids = new NumberColumn();
  private readonly times = new NumberColumn();
  private readonly chunkNumbers = new NumberColumn();
  private readonly offsets = new NumberColumn();
  private readonly lengths = new NumberColumn();
  private readonly counted = new NumberColumn();
  private readonly extras = new NumberColumn();
  private chunks: Chunk[] = [];
  /** Chunk number of chunks[0]. */
  private firstChunkNumber = 0;
  private storedBytes = 0;
  private ownBytes = 0;
  private evictedCount = 0;
  private chunkCapacity = 0;

  constructor(
    /** Most events kept. */
    readonly maxEvents: number,
    /** Most payload bytes (encoded envelopes) kept. */
    readonly maxBytes: number,
    /** Called for each evicted event, oldest first, while its bytes are still readable. */
    private readonly onEvict: (id: number, bytes: Uint8Array, extra: number) => void = () => {},
  ) {}

  /** Events held now. */
  get size(): number {
    return this.ids.length;
  }

  /** Bytes counted for the events held now (what the byte bound applies to). */
  get bytes(): number {
    return this.storedBytes;
  }

  /** Bytes the events' own copies take (without what their owner shares between them). */
  get heldBytes(): number {
    return this.ownBytes;
  }

  /**
   * Estimated bytes retained: every chunk whole (a chunk stays while any of
   * its events does) and each event's numbers in the columns.
   */
  get retainedBytes(): number {
    return this.chunkCapacity + this.size * columnBytesPerEvent;
  }

  /** Events evicted since creation. */
  get evictions(): number {
    return this.evictedCount;
  }

  /** Oldest id held, or 0 when empty. */
  get firstId(): number {
    return this.size === 0 ? 0 : this.ids.at(0);
  }

  /** Newest id held, or 0 when empty. */
  get lastId(): number {
    return this.size === 0 ? 0 : this.ids.at(this.size - 1);
  }

  /** Stores a copy of `bytes` as event `id`, evicting the oldest events past the bounds. */
  append(id: number, receivedAtMs: number, bytes: Uint8Array, extra = 0, countedBytes = bytes.length): void {
    if (this.size > 0 && id <= this.lastId) {
      throw new Error(`event ids must increase: ${id} after ${this.lastId}`);
    }
    while (this.size > 0 && (this.size + 1 > this.maxEvents || this.storedBytes + countedBytes > this.maxBytes)) {
      this.evictOldest();
    }
    const [chunkNumber, offset] = this.place(bytes);
    this.ids.push(id);
    this.times.push(receivedAtMs);
    this.chunkNumbers.push(chunkNumber);
    this.offsets.push(offset);
    this.lengths.push(bytes.length);
    this.counted.push(countedBytes);
    this.extras.push(extra);
    this.storedBytes += countedBytes;
    this.ownBytes += bytes.length;
  }

  /** Evicts every event received before `cutoffMs`; answers how many. */
  evictReceivedBefore(cutoffMs: number): number {
    let evicted = 0;
    while (this.size > 0 && this.times.at(0) < cutoffMs) {
      this.evictOldest();
      evicted++;
    }
    return evicted;
  }

  /** The encoded envelope of event `id` (a view, valid until it is evicted), or undefined. */
  getBytes(id: number): Uint8Array | undefined {
    const index = this.indexOf(id);
    return index < 0 ? undefined : this.bytesAt(index);
  }

  /** The `extra` number stored with event `id`, or undefined. */
  getExtra(id: number): number | undefined {
    const index = this.indexOf(id);
    return index < 0 ? undefined : this.extras.at(index);
  }

  /** Broker receive time (ms) of event `id`, or undefined. */
  getTime(id: number): number | undefined {
    const index = this.indexOf(id);
    return index < 0 ? undefined : this.times.at(index);
  }

  /** Smallest held id >= `id`, or 0 when there is none. */
  firstIdAtOrAfter(id: number): number {
    const index = this.ids.lowerBound(id);
    return index < this.size ? this.ids.at(index) : 0;
  }

  /** Held events with an id above `id`, and the receive time of the first of them (0 when none). */
  countAfter(id: number): { count: number; firstTimeMs: number } {
    const index = this.ids.lowerBound(id + 1);
    return index < this.size ? { count: this.size - index, firstTimeMs: this.times.at(index) } : { count: 0, firstTimeMs: 0 };
  }

  /** Smallest held id received at or after `ms`, or 0 when there is none. */
  firstIdAtOrAfterTime(ms: number): number {
    const index = this.times.lowerBound(ms);
    return index < this.size ? this.ids.at(index) : 0;
  }

  /**
   * Calls `visit` for held events with id >= `fromId` in id order until it
   * answers false. Answers the id after the last visited one.
   */
  scanFrom(fromId: number, visit: (id: number, bytes: Uint8Array, extra: number) => boolean): number {
    let next = fromId;
    for (let index = this.ids.lowerBound(fromId); index < this.size; index++) {
      const id = this.ids.at(index);
      next = id + 1;
      if (!visit(id, this.bytesAt(index), this.extras.at(index))) break;
    }
    return next;
  }

  /** Where event `id` is held (-1 when it is not): a position for bytesAt, extraAt and timeAt, valid until the history next changes. */
  indexOf(id: number): number {
    const index = this.ids.lowerBound(id);
    return index < this.size && this.ids.at(index) === id ? index : -1;
  }

  /** The `extra` number of the event at `index` (from indexOf). */
  extraAt(index: number): number {
    return this.extras.at(index);
  }

  /** The receive time (ms) of the event at `index` (from indexOf). */
  timeAt(index: number): number {
    return this.times.at(index);
  }

  /** The encoded envelope of the event at `index` (from indexOf): a view, valid until it is evicted. */
  bytesAt(index: number): Uint8Array {
    const chunk = this.chunks[this.chunkNumbers.at(index) - this.firstChunkNumber];
    const offset = this.offsets.at(index);
    return chunk.buffer.subarray(offset, offset + this.lengths.at(index));
  }

  private place(bytes: Uint8Array): [number, number] {
    let last = this.chunks[this.chunks.length - 1];
    if (last === undefined || last.used + bytes.length > last.buffer.length) {
      last = { buffer: Buffer.allocUnsafeSlow(Math.max(chunkBytes, bytes.length)), used: 0, live: 0 };
      this.chunks.push(last);
      this.chunkCapacity += last.buffer.length + retainedSize.typedArray;
    }
    const offset = last.used;
    last.buffer.set(bytes, offset);
    last.used += bytes.length;
    last.live++;
    return [this.firstChunkNumber + this.chunks.length - 1, offset];
  }

  /** Evicts the oldest event (there must be one). */
  evictOldest(): void {
    this.onEvict(this.ids.at(0), this.bytesAt(0), this.extras.at(0));
    const chunk = this.chunks[this.chunkNumbers.at(0) - this.firstChunkNumber];
    chunk.live--;
    this.storedBytes -= this.counted.at(0);
    this.ownBytes -= this.lengths.at(0);
    this.evictedCount++;
    for (const column of [this.ids, this.times, this.chunkNumbers, this.offsets, this.lengths, this.counted, this.extras]) column.shift();
    // Chunks empty out in order because eviction is oldest first.
    while (this.chunks.length > 1 && this.chunks[0].live === 0) {
      this.chunkCapacity -= (this.chunks.shift() as Chunk).buffer.length + retainedSize.typedArray;
      this.firstChunkNumber++;
    }
  }
}

/** Seven numbers a column (the receive time takes 8 bytes, the others 4), with the columns' slack. */
const columnBytesPerEvent = 6 * retainedSize.columnNumber + 12;

/** Shared chunk size: large enough that per-buffer overhead vanishes, small enough that the last one's slack stays small. */
const chunkBytes = 64 * 1024;

interface Chunk {
  buffer: Buffer;
  used: number;
  live: number;
}
