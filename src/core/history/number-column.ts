/**
 * NumberColumn is a growable typed array with a movable front: a compact
 * column of numbers with no per-element boxing and at most half again as much
 * slack, supporting push at the end and dropping from the front, for history
 * and its indexes. It holds 4-byte unsigned integers until a value does not
 * fit (a fraction, a negative, 2^32 or more), then 8-byte floats (integers
 * exact up to 2^53): event ids cost 4 bytes for the first four billion events.
 */
export class NumberColumn {
  private values: Uint32Array | Float64Array;
  private start = 0;
  private end = 0;

  constructor(initialCapacity = 16) {
    this.values = new Uint32Array(initialCapacity);
  }

  /** Numbers held. */
  get length(): number {
    return this.end - this.start;
  }

  /** The number at position `index` (0 = front). */
  at(index: number): number {
    return this.values[this.start + index];
  }

  /** Appends a number. */
  push(value: number): void {
    if (this.values instanceof Uint32Array && !(value >>> 0 === value)) this.widen();
    if (this.end === this.values.length) this.makeRoom();
    this.values[this.end++] = value;
  }

  /** Replaces the number at position `index` (0 = front). */
  set(index: number, value: number): void {
    if (this.values instanceof Uint32Array && !(value >>> 0 === value)) this.widen();
    this.values[this.start + index] = value;
  }

  /** Drops the front number. */
  shift(): void {
    this.start++;
    if (this.start === this.end) this.start = this.end = 0;
  }

  /** Position of the first number >= `target` (length when none); the column must be ascending. */
  lowerBound(target: number): number {
    let low = this.start;
    let high = this.end;
    const values = this.values;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (values[mid] < target) low = mid + 1;
      else high = mid;
    }
    return low - this.start;
  }

  private makeRoom(): void {
    const length = this.length;
    // Reuse the dropped front when it is at least half the array; else grow by
    // half (not double: the slack of big columns is memory history pays for).
    const capacity = this.start * 2 >= this.values.length ? this.values.length : Math.ceil(this.values.length * 1.5) + 4;
    this.moveTo(capacity === this.values.length ? this.values : this.allocate(capacity));
    this.end = length;
  }

  private widen(): void {
    const wide = new Float64Array(this.values.length);
    const length = this.length;
    wide.set(this.values.subarray(this.start, this.end));
    this.values = wide;
    this.start = 0;
    this.end = length;
  }

  private moveTo(target: Uint32Array | Float64Array): void {
    target.set(this.values.subarray(this.start, this.end));
    this.values = target;
    this.start = 0;
  }

  private allocate(capacity: number): Uint32Array | Float64Array {
    return this.values instanceof Uint32Array ? new Uint32Array(capacity) : new Float64Array(capacity);
  }
}
