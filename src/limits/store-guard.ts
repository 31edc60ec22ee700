/**
 * The Redis failure policy of a limit: fail open (`onStoreError: allow`, the default) or closed
 * (`deny`: 503). One log line when an outage starts and one when it ends, not one per request;
 * every failure is published on `storeFailed` for metrics. Recovery needs no restart: the shared
 * ioredis client reconnects in the background and the next command that succeeds ends the outage.
 */
import type { Logger } from "pino";
import type { HookResult, RequestPhaseContext } from "../lifecycle/context.js";
import { storeFailed } from "../observability/channels.js";

export class StoreGuard {
  readonly failOpen: boolean;
  readonly #plugin: string;
  readonly #logger: Logger;
  #down = false;

  constructor(plugin: string, failOpen: boolean, logger: Logger) {
    this.#plugin = plugin;
    this.failOpen = failOpen;
    this.#logger = logger;
  }

  /** Notes a failure; true when the request may go on (fail open). */
  failed(error: unknown): boolean {
    const message = (error as Error)?.message ?? String(error);
    if (!this.#down) {
      this.#down = true;
      this.#logger.error(
        { code: "PTC_ERR_LIMIT_STORE_FAILED", plugin: this.#plugin, failOpen: this.failOpen, err: message },
        `${this.#plugin}: the limit store failed; requests are ${this.failOpen ? "let through (fail open)" : "refused (fail closed)"} until it is back`,
      );
    }
    if (storeFailed.hasSubscribers) storeFailed.publish({ plugin: this.#plugin, failOpen: this.failOpen, error: message });
    return this.failOpen;
  }

  /** Notes a success: ends an outage. */
  ok(): void {
    if (!this.#down) return;
    this.#down = false;
    this.#logger.info({ plugin: this.#plugin }, `${this.#plugin}: the limit store is back; limits apply again`);
  }

  /** The answer of a request refused because the store failed (fail closed). */
  deny(ctx: RequestPhaseContext) {
    return ctx.exit(503, { message: "Service Unavailable", requestId: ctx.requestId }, { "retry-after": "1" });
  }
}

/**
 * One store call of a limit plugin under its guard: `call` answers at once (memory) or with a
 * promise (Redis); `decide` turns the verdict into the hook's answer. Both are module-level
 * functions of the plugin, so the memory path allocates no closure per request.
 */
export function guardedCheck<S extends { guard: StoreGuard }, V>(
  state: S,
  ctx: RequestPhaseContext,
  key: string,
  call: (state: S, key: string) => V | Promise<V>,
  decide: (state: S, ctx: RequestPhaseContext, key: string, verdict: V) => HookResult | Promise<HookResult>,
): HookResult | Promise<HookResult> {
  let verdict: V | Promise<V>;
  try {
    verdict = call(state, key);
  } catch (error) {
    return state.guard.failed(error) ? undefined : state.guard.deny(ctx);
  }
  if (!(verdict instanceof Promise)) return decide(state, ctx, key, verdict);
  return verdict.then(
    (settled) => {
      state.guard.ok();
      return decide(state, ctx, key, settled);
    },
    (error: unknown) => (state.guard.failed(error) ? undefined : state.guard.deny(ctx)),
  );
}
