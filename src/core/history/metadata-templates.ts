import { retainedSize, stringSize } from "../retained-size.js";
import { NumberColumn } from "./number-column.js";

/**
 * MetadataTemplates stores each distinct correlation metadata (without its
 * per-event sequence_number and final) once, shared by every stored event that
 * carries it: the events of one correlation from one publisher repeat ids,
 * tags, stage and source, ~250 of an event's ~480 encoded bytes. Entries are
 * reference-counted and dropped with their last event, so the table never
 * outgrows history.
 *
 * A template is kept as its key only: the key is its bytes as a latin1
 * string, which holds them as compactly as a byte array and without a
 * buffer's own overhead, and it has to be held anyway to find a repeat. Ids
 * index a slot array (freed slots are reused), so a template costs its
 * string, one map entry and two slots: high-cardinality metadata (one root
 * per task, unique tag values) makes one template per event.
 */
export class MetadataTemplates {
  private readonly byKey = new Map<string, number>();
  /** Slot id - 1 → key; undefined when free. */
  private readonly keys: (string | undefined)[] = [];
  private readonly references = new NumberColumn();
  private readonly freeIds: number[] = [];
  private storedBytes = 0;
  private accounted = 0;

  /** Distinct templates held. */
  get size(): number {
    return this.byKey.size;
  }

  /** Bytes of the templates' encodings. */
  get bytes(): number {
    return this.storedBytes;
  }

  /** Estimated bytes retained: the strings, entries and slots. */
  get retainedBytes(): number {
    return this.accounted;
  }

  /**
   * The id of the template under `key`, the template's bytes as a latin1
   * string (see splitForStorage); takes one reference.
   */
  acquire(key: string): number {
    let id = this.byKey.get(key);
    if (id === undefined) {
      id = this.freeIds.pop() ?? this.newSlot();
      this.keys[id - 1] = key;
      this.byKey.set(key, id);
      this.setReferences(id, 0);
      this.storedBytes += key.length;
      this.accounted += templateBytes(key);
    }
    this.setReferences(id, this.references.at(id - 1) + 1);
    return id;
  }

  /** The bytes stored under `key`, if any (no reference taken). */
  peek(key: string): Uint8Array | undefined {
    return this.byKey.has(key) ? Buffer.from(key, "latin1") : undefined;
  }

  /** The bytes of template `id` (a new copy). */
  get(id: number): Uint8Array {
    const key = this.keys[id - 1];
    if (key === undefined) throw new Error(`no metadata template ${id}`);
    return Buffer.from(key, "latin1");
  }

  /** The bytes of template `id` as the latin1 string they are kept in: no copy, for writers that take one. */
  keyOf(id: number): string {
    const key = this.keys[id - 1];
    if (key === undefined) throw new Error(`no metadata template ${id}`);
    return key;
  }

  /** Drops one reference; the template goes with its last one. */
  release(id: number): void {
    const key = this.keys[id - 1];
    if (key === undefined) return;
    const left = this.references.at(id - 1) - 1;
    this.setReferences(id, left);
    if (left > 0) return;
    this.keys[id - 1] = undefined;
    this.byKey.delete(key);
    this.freeIds.push(id);
    this.storedBytes -= key.length;
    this.accounted -= templateBytes(key);
  }

  private newSlot(): number {
    this.keys.push(undefined);
    this.references.push(0);
    // A slot, once made, stays (reused through freeIds): counted with it.
    this.accounted += 2 * retainedSize.field + retainedSize.columnNumber;
    return this.keys.length;
  }

  private setReferences(id: number, count: number): void {
    this.references.set(id - 1, count);
  }
}

function templateBytes(key: string): number {
  return stringSize(key) + retainedSize.mapEntry;
}
