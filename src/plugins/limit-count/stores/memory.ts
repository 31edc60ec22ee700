/**
 * limitCount in this process: per key, one Float64Array with [window start, count, previous
 * window's count] for each limit; synchronous and without allocation once a key is known. Bounded
 * by `maxKeys` (least recently used first), as nginx's zones are by their size.
 */
import { LRUCache } from "lru-cache";
import { type CompiledLimit, type CountStore, type CountVerdict, slidingRetry } from "./types.js";

export class MemoryCountStore implements CountStore {
  readonly #limits: CompiledLimit[];
  readonly #entries: LRUCache<string, Float64Array>;
  readonly #now: () => number;

  constructor(limits: CompiledLimit[], maxKeys: number, now: () => number = Date.now) {
    this.#limits = limits;
    this.#entries = new LRUCache({ max: maxKeys });
    this.#now = now;
  }

  check(key: string): CountVerdict {
    const limits = this.#limits;
    const now = this.#now();
    let state = this.#entries.get(key);
    if (state === undefined) {
      state = new Float64Array(limits.length * 3).fill(-1);
      this.#entries.set(key, state);
    }
    let allowed = true;
    let limit = 0;
    let remaining = Number.POSITIVE_INFINITY;
    let resetMs = 0;
    let retryAfterMs = 0;
    for (let i = 0; i < limits.length; i++) {
      const { count, windowMs, sliding } = limits[i] as CompiledLimit;
      const start = now - (now % windowMs);
      const at = i * 3;
      const stored = state[at] as number;
      if (stored !== start) {
        state[at + 2] = stored === start - windowMs ? (state[at + 1] as number) : 0;
        state[at + 1] = 0;
        state[at] = start;
      }
      const current = state[at + 1] as number;
      const previous = state[at + 2] as number;
      const elapsed = now - start;
      const used = sliding ? (previous * (windowMs - elapsed)) / windowMs + current : current;
      const left = Math.floor(count - used - 1);
      if (used + 1 > count) {
        const retry = sliding ? slidingRetry(count, windowMs, elapsed, current, previous) : windowMs - elapsed;
        if (allowed || retry > retryAfterMs) {
          retryAfterMs = retry;
          limit = count;
          resetMs = windowMs - elapsed;
        }
        allowed = false;
        remaining = 0;
      } else if (allowed && left < remaining) {
        remaining = left;
        limit = count;
        resetMs = windowMs - elapsed;
      }
    }
    if (allowed) for (let i = 0; i < limits.length; i++) state[i * 3 + 1] = (state[i * 3 + 1] as number) + 1;
    return { allowed, limit, remaining: allowed ? remaining : 0, resetMs, retryAfterMs };
  }

  close(): void {
    this.#entries.clear();
  }
}
