/**
 * limitConn: requests in flight at once per key (nginx limit_conn). A slot is taken in the
 * preaccess phase (in access, after the auth plugins, when the key names the consumer) and given
 * back in the log phase, which runs exactly once when the response is finished or the client went
 * away, whatever the status and whichever later plugin stopped the request. In memory by default;
 * in Redis (with a TTL safety net) with a top-level `redis`.
 */
import type { z } from "zod";
import { parseTime } from "../../config/units.js";
import type { LogContext, RequestPhaseContext } from "../../lifecycle/context.js";
import { definePlugin } from "../../lifecycle/plugin.js";
import { instanceId, redisFor } from "../../limits/instance.js";
import { compileKey, type KeyFunction, keyNeedsConsumer, limitUsesPhase } from "../../limits/key.js";
import { type Rejecter, reject } from "../../limits/reject.js";
import { guardedCheck, StoreGuard } from "../../limits/store-guard.js";
import { type LimitConnConfig, limitConnSchema } from "./schema.js";
import { MemoryConnStore } from "./stores/memory.js";
import { RedisConnStore } from "./stores/redis.js";
import type { ConnStore } from "./stores/types.js";

declare module "../../config/schema.js" {
  interface PluginConfigMap {
    limitConn: z.input<typeof limitConnSchema>;
  }
}

/** The key of the slot this request holds, for the log phase; LOGGED once the log phase has run. */
const SLOT = "portico.limitConn";
const LOGGED = Symbol("logged");

interface LimitConnState extends Rejecter {
  key: KeyFunction;
  /** The key names the consumer: the limit counts in the access phase, after the auth plugins. */
  afterAuth: boolean;
  store: ConnStore;
  guard: StoreGuard;
}

function decide(state: LimitConnState, ctx: RequestPhaseContext, key: string, acquired: boolean) {
  if (!acquired) return reject(state, ctx, key, 0, null);
  if (ctx.store.get(SLOT) === LOGGED) {
    // The client went away (and the log phase ran) while Redis answered: give the slot back now.
    release(state, key);
    return undefined;
  }
  ctx.store.set(SLOT, key);
  return undefined;
}

function release(state: LimitConnState, key: string): void {
  const released = state.store.release(key);
  // A failed release is left to the key's TTL (Redis) rather than failing the log phase.
  if (released instanceof Promise) released.catch(() => undefined);
}

/** The limit's hook, in preaccess or access (limitUsesPhase). */
function check(ctx: RequestPhaseContext, state: LimitConnState) {
  return guardedCheck(state, ctx, state.key(ctx), acquire, decide);
}

/** The store call, for guardedCheck. */
function acquire(state: LimitConnState, key: string) {
  return state.store.acquire(key);
}

export const limitConn = definePlugin({
  name: "limitConn",
  priority: 1003,
  description: "Limits the requests in flight at once per key (nginx limit_conn), in memory or in Redis.",
  schema: limitConnSchema,
  async init(conf: LimitConnConfig, env): Promise<LimitConnState> {
    const id = instanceId("limitConn", { ...conf, status: undefined, message: undefined }, env);
    const client = await redisFor(conf.policy, env);
    const store = env.keep(`${id}:${client ? "redis" : "memory"}`, () =>
      client ? new RedisConnStore(client, conf.conn, parseTime(conf.ttl), id) : new MemoryConnStore(conf.conn),
    );
    return {
      plugin: "limitConn",
      key: await compileKey(conf.key, env),
      afterAuth: keyNeedsConsumer(conf.key),
      store,
      guard: new StoreGuard("limitConn", conf.onStoreError === "allow", env.logger),
      status: conf.status,
      message: conf.message,
      logger: env.logger,
    };
  },
  // Before authentication (nginx's preaccess), unless the key is the consumer: then after it.
  // Only one of the two runs, chosen at load: the other is left out of the location's chain.
  usesPhase: limitUsesPhase,
  preaccess: check,
  access: check,

  log(ctx: LogContext, state) {
    const key = ctx.store.get(SLOT);
    ctx.store.set(SLOT, LOGGED);
    if (typeof key === "string") release(state, key);
  },
});
