/**
 * State that must survive a reload (rate-limit counters, caches, sessions, health): plugins ask
 * for it by id at init, and a reload that asks for the same id gets the same object back. What
 * the new config no longer asks for is disposed once the old config has retired.
 */
export interface Disposable {
  close?: () => void | Promise<void>;
}

export class SharedState {
  readonly #entries = new Map<string, { value: unknown; generation: number }>();
  #generation = 0;

  /** Starts a config load: ids taken from now on belong to the new generation. */
  beginGeneration(): number {
    return ++this.#generation;
  }

  /** The object kept under `id`, made by `create` when there is none. */
  take<T>(id: string, create: () => T): T {
    const entry = this.#entries.get(id);
    if (entry) {
      entry.generation = this.#generation;
      return entry.value as T;
    }
    const value = create();
    this.#entries.set(id, { value, generation: this.#generation });
    return value;
  }

  /** The objects kept under ids that start with `prefix` (a plugin's are `NAME:…`), e.g. every proxyCache zone. */
  values(prefix: string): unknown[] {
    const out: unknown[] = [];
    for (const [id, entry] of this.#entries) if (id.startsWith(prefix)) out.push(entry.value);
    return out;
  }

  /**
   * Disposes what no load since `generation` took: called with the serving config's generation once
   * the configs before it have retired (a later load that failed may have taken more; that stays).
   */
  async retainSince(generation: number): Promise<void> {
    const stale: unknown[] = [];
    for (const [id, entry] of this.#entries) {
      if (entry.generation >= generation) continue;
      this.#entries.delete(id);
      stale.push(entry.value);
    }
    await Promise.all(stale.map((value) => (value as Disposable)?.close?.()));
  }

  async closeAll(): Promise<void> {
    const values = [...this.#entries.values()].map((entry) => entry.value);
    this.#entries.clear();
    await Promise.all(values.map((value) => (value as Disposable)?.close?.()));
  }
}
