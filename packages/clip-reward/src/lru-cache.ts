/**
 * A least-recently-used cache on a Map (insertion order = recency order).
 */

/** Fixed-capacity LRU map; capacity 0 disables caching. */
export class LruCache<K, V> {
  private readonly map = new Map<K, V>();
  private hitCount = 0;
  private missCount = 0;

  /** @param capacity Maximum number of entries (0 = store nothing). */
  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 0) throw new RangeError(`LRU capacity must be a non-negative integer, got ${capacity}`);
  }

  /** The value for `key`, marking it most recently used; undefined when absent. */
  get(key: K): V | undefined {
    const value = this.map.get(key);
    if (value === undefined) {
      this.missCount++;
      return undefined;
    }
    this.hitCount++;
    this.map.delete(key);
    this.map.set(key, value);
    return value;
  }

  /** Store `value`, evicting the least recently used entry when full. */
  set(key: K, value: V): void {
    if (this.capacity === 0) return;
    this.map.delete(key);
    this.map.set(key, value);
    while (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value as K);
  }

  /** Number of entries. */
  get size(): number {
    return this.map.size;
  }

  /** Hits and misses of {@link LruCache.get} since creation or the last {@link LruCache.clear}. */
  get stats(): { hits: number; misses: number; size: number; capacity: number } {
    return { hits: this.hitCount, misses: this.missCount, size: this.map.size, capacity: this.capacity };
  }

  /** Remove every entry and reset the statistics. */
  clear(): void {
    this.map.clear();
    this.hitCount = 0;
    this.missCount = 0;
  }
}
