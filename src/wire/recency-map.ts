/**
 * A map that keeps its entries in order of recent use, for the bounded maps
 * of every layer that drop their least recently used entry when full:
 * `set` puts an entry last (new or not), `touch` moves one last,
 * `takeOldest` drops the first, iteration runs oldest first.
 *
 * The order lives in a doubly linked list beside a Map, so using an entry
 * again never deletes and re-adds its key. V8's Map keeps a deleted key in its
 * hash bucket until the table is rebuilt: a key moved last by delete-and-set,
 * again and again, made each of its lookups walk its earlier copies, ~19 µs
 * per move in a Map of 10 000 (microbench, Node 20); a collector paid that on
 * every publish in a repeated correlation once its client had numbered
 * 10 000 others. Taking the oldest entry is a pointer step too, where
 * `map.keys().next()` walks past every entry deleted since the last rebuild.
 */
export class RecencyMap<K, V> {
  private readonly nodes = new Map<K, RecencyNode<K, V>>();
  private first: RecencyNode<K, V> | undefined;
  private last: RecencyNode<K, V> | undefined;

  get size(): number {
    return this.nodes.size;
  }

  has(key: K): boolean {
    return this.nodes.has(key);
  }

  /** The value under `key`, its place unchanged. */
  get(key: K): V | undefined {
    return this.nodes.get(key)?.value;
  }

  /** Sets `key` to `value` and makes it the most recent entry. */
  set(key: K, value: V): void {
    const node = this.nodes.get(key);
    if (node === undefined) {
      const added: RecencyNode<K, V> = { key, value, before: this.last, after: undefined };
      this.nodes.set(key, added);
      this.append(added);
      return;
    }
    node.value = value;
    this.moveLast(node);
  }

  /** Makes `key` the most recent entry; answers its value (undefined when absent). */
  touch(key: K): V | undefined {
    const node = this.nodes.get(key);
    if (node === undefined) return undefined;
    this.moveLast(node);
    return node.value;
  }

  delete(key: K): boolean {
    const node = this.nodes.get(key);
    if (node === undefined) return false;
    this.nodes.delete(key);
    this.unlink(node);
    return true;
  }

  /** The least recently used entry, taken out; undefined when empty. */
  takeOldest(): [K, V] | undefined {
    const node = this.first;
    if (node === undefined) return undefined;
    this.nodes.delete(node.key);
    this.unlink(node);
    return [node.key, node.value];
  }

  /** The values, least recently used first. Deleting the entry just visited is safe. */
  *values(): IterableIterator<V> {
    for (let node = this.first; node !== undefined; ) {
      const after = node.after;
      yield node.value;
      node = after;
    }
  }

  private moveLast(node: RecencyNode<K, V>): void {
    if (node === this.last) return;
    this.unlink(node);
    node.before = this.last;
    this.append(node);
  }

  private append(node: RecencyNode<K, V>): void {
    node.after = undefined;
    if (this.last === undefined) this.first = node;
    else this.last.after = node;
    this.last = node;
  }

  private unlink(node: RecencyNode<K, V>): void {
    if (node.before === undefined) this.first = node.after;
    else node.before.after = node.after;
    if (node.after === undefined) this.last = node.before;
    else node.after.before = node.before;
    node.before = undefined;
    node.after = undefined;
  }
}

interface RecencyNode<K, V> {
  readonly key: K;
  value: V;
  before: RecencyNode<K, V> | undefined;
  after: RecencyNode<K, V> | undefined;
}
