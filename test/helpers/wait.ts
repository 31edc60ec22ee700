/**
 * Waiting for something to happen, never for a time to pass. A test waits for the event, log line
 * or state it needs; the only clock is a hang guard, generous enough that a busy machine never
 * reaches it and a test that would hang fails with what it waited for.
 */

/** How long a test waits for something that should happen before it calls it a hang. */
export const HANG_MS = 60_000;

/** The hang guard of a whole test that starts processes, npm or a browser (scripts/run-tests.js gives every test this by default). */
export const HANG_TEST = { timeout: 300_000 };

/**
 * Polls `check` (sync or async) every few ms until it returns a value other than undefined; throws
 * after `timeout` ms. A throw from `check` ends the wait at once (for "the process exited").
 */
export async function waitFor<T>(what: string, check: () => T | undefined | Promise<T | undefined>, timeout = HANG_MS): Promise<T> {
  // performance.now(), not Date.now(): a test may mock Date (t.mock.timers) to move the gateway's clock.
  const deadline = performance.now() + timeout;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
