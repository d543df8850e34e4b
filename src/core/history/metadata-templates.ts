/**
 * MetadataTemplates stores each distinct correlation metadata (without its
 * per-event sequence_number and final) once, shared by every stored event that
 * carries it: the events of one correlation from one publisher repeat ids,
 * tags, stage and source, ~250 of an event's ~480 encoded bytes. Entries are
 * reference-counted and dropped with their last event, so the table never
 * outgrows history.
 */
export class MetadataTemplates {
  private readonly byKey = new Map<string, Template>();
  private readonly byId = new Map<number, Template>();
  private nextId = 1;
  private storedBytes = 0;

  /** Distinct templates held. */
  get size(): number {
    return this.byId.size;
  }

  /** Bytes held by templates. */
  get bytes(): number {
    return this.storedBytes;
  }

  /**
   * The id of the template under `key` (encoding a new one only when the key
   * is unseen: a key is cheaper to build than the bytes); takes one reference.
   */
  acquire(key: string, encode: () => Uint8Array): number {
    let template = this.byKey.get(key);
    if (template === undefined) {
      const encoded = encode();
      template = { id: this.nextId++, key, bytes: Uint8Array.from(encoded), references: 0 };
      this.byKey.set(key, template);
      this.byId.set(template.id, template);
      this.storedBytes += encoded.length;
    }
    template.references++;
    return template.id;
  }

  /** The bytes stored under `key`, if any (no reference taken). */
  peek(key: string): Uint8Array | undefined {
    return this.byKey.get(key)?.bytes;
  }

  /** The bytes of template `id`. */
  get(id: number): Uint8Array {
    const template = this.byId.get(id);
    if (template === undefined) throw new Error(`no metadata template ${id}`);
    return template.bytes;
  }

  /** Drops one reference; the template goes with its last one. */
  release(id: number): void {
    const template = this.byId.get(id);
    if (template === undefined || --template.references > 0) return;
    this.byId.delete(id);
    this.byKey.delete(template.key);
    this.storedBytes -= template.bytes.length;
  }
}

interface Template {
  id: number;
  key: string;
  bytes: Uint8Array;
  references: number;
}
