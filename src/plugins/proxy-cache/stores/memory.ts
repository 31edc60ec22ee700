/**
 * A memory zone: lru-cache with a byte budget (bodies + headers); the least recently used entries
 * go first, and an entry is gone once its time (freshness + stale windows + keepExpired) is over.
 */
import { LRUCache } from "lru-cache";
import { belongsTo, type CacheItem, type CacheStore, itemSize, type PurgeTarget } from "./store.js";

export class MemoryCacheStore implements CacheStore {
  readonly kind = "memory";
  readonly zone: string;
  readonly #lru: LRUCache<string, CacheItem>;

  constructor(zone: string, maxSize: number) {
    this.zone = zone;
    this.#lru = new LRUCache<string, CacheItem>({
      maxSize,
      sizeCalculation: (item, key) => Math.max(1, itemSize(key, item)),
      ttlAutopurge: false,
      allowStale: false,
      ttl: 0,
    });
  }

  get(key: string): CacheItem | undefined {
    return this.#lru.get(key);
  }

  set(key: string, item: CacheItem, ttl: number): void {
    this.#lru.set(key, item, { ttl: Math.max(1, Math.ceil(ttl)) });
  }

  delete(key: string): void {
    this.#lru.delete(key);
  }

  async purge(target: PurgeTarget): Promise<number> {
    const gone: string[] = [];
    for (const key of this.#lru.keys()) {
      if (target.key !== undefined ? belongsTo(key, target.key) : key.startsWith(target.prefix)) gone.push(key);
    }
    for (const key of gone) this.#lru.delete(key);
    return gone.length;
  }

  /** Bytes in use and entries (for tests and the admin API). */
  get stats(): { size: number; entries: number } {
    return { size: this.#lru.calculatedSize, entries: this.#lru.size };
  }

  close(): void {
    this.#lru.clear();
  }
}
