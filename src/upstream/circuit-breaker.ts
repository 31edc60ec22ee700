/**
 * A circuit breaker per upstream server, the classic three-state model:
 *
 * - closed: traffic flows; it opens after `failures` consecutive failures, or when, over the last
 *   `window`, at least `minRequests` requests ended and the share of failures reached `errorRatio`.
 * - open: the server gets no traffic for `openTimeout` (the cool-down).
 * - halfOpen: after the cool-down, exactly one request (the probe) goes through; its success
 *   closes the breaker, its failure opens it for another cool-down.
 *
 * What counts as a failure is what passive health counts (errors, timeouts and the statuses listed
 * in proxyNextUpstream). The breaker is state kept on the server's PeerState; this module holds
 * only the transitions, so that the hot path of a server without one costs nothing.
 */

export interface BreakerOptions {
  /** Consecutive failures that open the breaker (0 = this rule off). */
  failures: number;
  /** Share of failed requests over `window` that opens it (0 = this rule off). */
  errorRatio: number;
  /** Fewest requests in the window before errorRatio applies. */
  minRequests: number;
  /** Length of the errorRatio window, ms. */
  window: number;
  /** Cool-down before the half-open probe, ms. */
  openTimeout: number;
}

export type BreakerPhase = "closed" | "open" | "halfOpen";

export class BreakerState {
  phase: BreakerPhase = "closed";
  consecutive = 0;
  windowStart = 0;
  windowTotal = 0;
  windowFailed = 0;
  openUntil = 0;
  probeInFlight = false;
}

/**
 * Records the end of a request; returns the new phase when it changed, else null.
 * `now` is read only when a window or a cool-down needs it.
 */
export function breakerRecord(state: BreakerState, options: BreakerOptions, ok: boolean, now: number): BreakerPhase | null {
  if (state.phase === "halfOpen") {
    state.probeInFlight = false;
    if (ok) {
      state.phase = "closed";
      state.consecutive = 0;
      state.windowStart = now;
      state.windowTotal = 0;
      state.windowFailed = 0;
      return "closed";
    }
    state.phase = "open";
    state.openUntil = now + options.openTimeout;
    return "open";
  }
  if (state.phase === "open") return null;
  if (options.errorRatio > 0) {
    if (now - state.windowStart > options.window) {
      state.windowStart = now;
      state.windowTotal = 0;
      state.windowFailed = 0;
    }
    state.windowTotal++;
    if (!ok) state.windowFailed++;
  }
  if (ok) {
    state.consecutive = 0;
    return null;
  }
  state.consecutive++;
  const tooMany = options.failures > 0 && state.consecutive >= options.failures;
  const ratio = options.errorRatio > 0 && state.windowTotal >= options.minRequests && state.windowFailed / state.windowTotal >= options.errorRatio;
  if (!tooMany && !ratio) return null;
  state.phase = "open";
  state.openUntil = now + options.openTimeout;
  return "open";
}

/** Whether the breaker lets a request through now; an open breaker past its cool-down turns half-open. */
export function breakerAllows(state: BreakerState, now: number): { allows: boolean; changed: BreakerPhase | null } {
  if (state.phase === "closed") return { allows: true, changed: null };
  if (state.phase === "open") {
    if (now < state.openUntil) return { allows: false, changed: null };
    state.phase = "halfOpen";
    state.probeInFlight = false;
    return { allows: true, changed: "halfOpen" };
  }
  return { allows: !state.probeInFlight, changed: null };
}
