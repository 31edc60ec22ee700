/** limitConn in this process: requests in flight per key; a key leaves the map at 0, so it holds only keys in flight. */
import type { ConnStore } from "./types.js";

export class MemoryConnStore implements ConnStore {
  readonly #conn: number;
  readonly #inFlight = new Map<string, number>();

  constructor(conn: number) {
    this.#conn = conn;
  }

  acquire(key: string): boolean {
    const n = this.#inFlight.get(key) ?? 0;
    if (n >= this.#conn) return false;
    this.#inFlight.set(key, n + 1);
    return true;
  }

  release(key: string): void {
    const n = this.#inFlight.get(key) ?? 0;
    if (n <= 1) this.#inFlight.delete(key);
    else this.#inFlight.set(key, n - 1);
  }

  /** For tests and metrics. */
  inFlight(key: string): number {
    return this.#inFlight.get(key) ?? 0;
  }
}
