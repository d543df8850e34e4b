/**
 * EventHistory keeps accepted events compactly: the encoded envelope bytes are
 * copied into large shared chunks and each event costs a handful of numbers in
 * parallel arrays (id, receive time, chunk, offset, length). A decoded
 * protobuf-es envelope retains ~1.1 KB; this keeps ~the encoded size plus ~40 B.
 *
 * Events are appended in strictly increasing id order and evicted oldest first
 * when the count or byte bound is exceeded; `onEvict` lets indexes drop their
 * entries for an event before its bytes are released.
 */
export class EventHistory {
  private ids: number[] = [];
  private times: number[] = [];
  private chunkNumbers: number[] = [];
  private offsets: number[] = [];
  private lengths: number[] = [];
  private head = 0;
  private chunks: Chunk[] = [];
  /** Chunk number of chunks[0]. */
  private firstChunkNumber = 0;
  private storedBytes = 0;
  private evictedCount = 0;

  constructor(
    /** Most events kept. */
    readonly maxEvents: number,
    /** Most payload bytes (encoded envelopes) kept. */
    readonly maxBytes: number,
    /** Called for each evicted event, oldest first, while its bytes are still readable. */
    private readonly onEvict: (id: number, bytes: Uint8Array) => void = () => {},
  ) {}

  /** Events held now. */
  get size(): number {
    return this.ids.length - this.head;
  }

  /** Encoded bytes held now. */
  get bytes(): number {
    return this.storedBytes;
  }

  /** Events evicted since creation. */
  get evictions(): number {
    return this.evictedCount;
  }

  /** Oldest id held, or 0 when empty. */
  get firstId(): number {
    return this.size === 0 ? 0 : this.ids[this.head];
  }

  /** Newest id held, or 0 when empty. */
  get lastId(): number {
    return this.size === 0 ? 0 : this.ids[this.ids.length - 1];
  }

  /** Stores a copy of `bytes` as event `id`, evicting the oldest events past the bounds. */
  append(id: number, receivedAtMs: number, bytes: Uint8Array): void {
    if (this.size > 0 && id <= this.lastId) {
      throw new Error(`event ids must increase: ${id} after ${this.lastId}`);
    }
    while (this.size > 0 && (this.size + 1 > this.maxEvents || this.storedBytes + bytes.length > this.maxBytes)) {
      this.evictOldest();
    }
    const [chunkNumber, offset] = this.place(bytes);
    this.ids.push(id);
    this.times.push(receivedAtMs);
    this.chunkNumbers.push(chunkNumber);
    this.offsets.push(offset);
    this.lengths.push(bytes.length);
    this.storedBytes += bytes.length;
  }

  /** The encoded envelope of event `id` (a view, valid until it is evicted), or undefined. */
  getBytes(id: number): Uint8Array | undefined {
    const index = this.indexOf(id);
    return index < 0 ? undefined : this.bytesAt(index);
  }

  /** Broker receive time (ms) of event `id`, or undefined. */
  getTime(id: number): number | undefined {
    const index = this.indexOf(id);
    return index < 0 ? undefined : this.times[index];
  }

  /** Smallest held id >= `id`, or 0 when there is none. */
  firstIdAtOrAfter(id: number): number {
    const index = this.lowerBound(this.ids, id);
    return index < this.ids.length ? this.ids[index] : 0;
  }

  /** Smallest held id received at or after `ms`, or 0 when there is none. */
  firstIdAtOrAfterTime(ms: number): number {
    const index = this.lowerBound(this.times, ms);
    return index < this.ids.length ? this.ids[index] : 0;
  }

  /**
   * Calls `visit` for held events with id >= `fromId` in id order until it
   * answers false. Answers the id after the last visited one.
   */
  scanFrom(fromId: number, visit: (id: number, bytes: Uint8Array) => boolean): number {
    let index = this.lowerBound(this.ids, fromId);
    let next = fromId;
    for (; index < this.ids.length; index++) {
      const id = this.ids[index];
      next = id + 1;
      if (!visit(id, this.bytesAt(index))) break;
    }
    return next;
  }

  private indexOf(id: number): number {
    const index = this.lowerBound(this.ids, id);
    return index < this.ids.length && this.ids[index] === id ? index : -1;
  }

  /** First index in [head, length) whose value is >= target (values ascending). */
  private lowerBound(values: number[], target: number): number {
    let low = this.head;
    let high = values.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (values[mid] < target) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  private bytesAt(index: number): Uint8Array {
    const chunk = this.chunks[this.chunkNumbers[index] - this.firstChunkNumber];
    const offset = this.offsets[index];
    return chunk.buffer.subarray(offset, offset + this.lengths[index]);
  }

  private place(bytes: Uint8Array): [number, number] {
    let last = this.chunks[this.chunks.length - 1];
    if (last === undefined || last.used + bytes.length > last.buffer.length) {
      last = { buffer: Buffer.allocUnsafeSlow(Math.max(chunkBytes, bytes.length)), used: 0, live: 0 };
      this.chunks.push(last);
    }
    const offset = last.used;
    last.buffer.set(bytes, offset);
    last.used += bytes.length;
    last.live++;
    return [this.firstChunkNumber + this.chunks.length - 1, offset];
  }

  private evictOldest(): void {
    const index = this.head;
    this.onEvict(this.ids[index], this.bytesAt(index));
    const chunk = this.chunks[this.chunkNumbers[index] - this.firstChunkNumber];
    chunk.live--;
    this.storedBytes -= this.lengths[index];
    this.evictedCount++;
    this.head++;
    // Chunks empty out in order because eviction is oldest first.
    while (this.chunks.length > 1 && this.chunks[0].live === 0) {
      this.chunks.shift();
      this.firstChunkNumber++;
    }
    if (this.head > 4096 && this.head * 2 > this.ids.length) this.compact();
  }

  private compact(): void {
    this.ids = this.ids.slice(this.head);
    this.times = this.times.slice(this.head);
    this.chunkNumbers = this.chunkNumbers.slice(this.head);
    this.offsets = this.offsets.slice(this.head);
    this.lengths = this.lengths.slice(this.head);
    this.head = 0;
  }
}

/** Shared chunk size: large enough that per-buffer overhead vanishes, small enough to free promptly. */
const chunkBytes = 1024 * 1024;

interface Chunk {
  buffer: Buffer;
  used: number;
  live: number;
}
