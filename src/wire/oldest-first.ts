/**
 * Takes a Map's entries oldest first (the map's insertion order), each in
 * amortized constant time, for the bounded maps of every layer that drop
 * their oldest entry when full.
 *
 * `map.keys().next()` walks past every entry deleted since the map's last
 * rehash, so a map that drops its oldest entry on each insert paid for
 * thousands of holes per call; one long-lived iterator passes each hole once.
 * An entry the map re-inserts (deleted then set, to mark it recent) is met
 * at its new place, as the map's own order says.
 */
export class OldestFirst<K, V> {
  private cursor: MapIterator<[K, V]> | undefined;

  constructor(private readonly map: Map<K, V>) {}

  /** Deletes the oldest entry and returns it; undefined when the map is empty. */
  take(): [K, V] | undefined {
    for (let attempt = 0; attempt < 2; attempt++) {
      this.cursor ??= this.map.entries();
      const next = this.cursor.next();
      if (!next.done) {
        this.map.delete(next.value[0]);
        return next.value;
      }
      // An exhausted iterator stays exhausted, even for entries set after it ended.
      this.cursor = undefined;
    }
    return undefined;
  }
}
