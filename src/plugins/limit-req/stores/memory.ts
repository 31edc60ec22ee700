/** limitReq in this process: { excess, last } per key, bounded by `maxKeys` (LRU), synchronous. */
import { LRUCache } from "lru-cache";
import { leak, type ReqStore, type ReqVerdict } from "./types.js";

interface Bucket {
  excess: number;
  last: number;
}

export class MemoryReqStore implements ReqStore {
  readonly #rate: number;
  readonly #burst: number;
  readonly #buckets: LRUCache<string, Bucket>;
  readonly #now: () => number;

  constructor(rate: number, burst: number, maxKeys: number, now: () => number = Date.now) {
    this.#rate = rate;
    this.#burst = burst * 1000;
    this.#buckets = new LRUCache({ max: maxKeys });
    this.#now = now;
  }

  take(key: string): ReqVerdict {
    const now = this.#now();
    const bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      // A new node: excess 0 (nginx allows the first request of a key whatever the burst).
      this.#buckets.set(key, { excess: 0, last: now });
      return { allowed: true, excess: 0 };
    }
    const excess = leak(bucket.excess, bucket.last, now, this.#rate);
    if (excess > this.#burst) return { allowed: false, excess };
    const ms = now - bucket.last;
    bucket.excess = excess;
    if (ms !== 0) bucket.last = now;
    return { allowed: true, excess };
  }

  close(): void {
    this.#buckets.clear();
  }
}
