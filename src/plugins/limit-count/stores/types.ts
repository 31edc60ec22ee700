/** The one interface of limitCount's stores: check every limit of a key, and count the request if all allow it. */
export interface CompiledLimit {
  count: number;
  windowMs: number;
  sliding: boolean;
}

export interface CountVerdict {
  allowed: boolean;
  /** The limit the headers describe: the one refusing, or the one with the fewest requests left. */
  limit: number;
  remaining: number;
  /** Until that limit's window ends. */
  resetMs: number;
  /** When refused: until the request would be allowed. */
  retryAfterMs: number;
}

export interface CountStore {
  check(key: string): CountVerdict | Promise<CountVerdict>;
  close?(): void;
}

/**
 * How long until a refused sliding-window request would pass: the weighted previous count must
 * fall enough (within this window), or, when this window alone is full, the next window's weight
 * of this one must.
 */
export function slidingRetry(count: number, windowMs: number, elapsed: number, current: number, previous: number): number {
  if (current + 1 <= count) {
    // previous * (windowMs - t) / windowMs + current + 1 <= count
    const t = windowMs - ((count - current - 1) * windowMs) / previous;
    return Math.max(1, Math.ceil(t - elapsed));
  }
  const next = windowMs - elapsed;
  return next + Math.max(0, Math.ceil(windowMs - ((count - 1) * windowMs) / current));
}
