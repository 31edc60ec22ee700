/**
 * nginx's proxy_cache_lock, within one process: the first miss for a key takes the lock and goes
 * upstream; concurrent misses for the same key wait until it has stored the response (or given
 * up), then look again. With Redis, instances do not share the lock: each process sends at most
 * one request per key at a time.
 */
export class KeyLock {
  readonly #held = new Map<string, { done: Promise<void>; release: () => void }>();

  /** Takes the lock for `key`: a release function, or null when another request holds it. */
  take(key: string): (() => void) | null {
    if (this.#held.has(key)) return null;
    let release!: () => void;
    const done = new Promise<void>((resolve) => {
      release = () => {
        if (this.#held.get(key)?.done === done) this.#held.delete(key);
        resolve();
      };
    });
    this.#held.set(key, { done, release });
    return release;
  }

  held(key: string): boolean {
    return this.#held.has(key);
  }

  /** Resolves true once the holder releases `key`, false after `timeout` ms (or at once when nobody holds it: true). */
  wait(key: string, timeout: number): Promise<boolean> {
    const entry = this.#held.get(key);
    if (!entry) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeout);
      entry.done.then(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  get size(): number {
    return this.#held.size;
  }
}
