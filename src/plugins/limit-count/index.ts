/**
 * limitCount: `count` requests per `window` per key, fixed or sliding windows, several limits per
 * route (as Kong's rate-limiting and APISIX's limit-count). In memory by default (per process); in
 * Redis when the config has a top-level `redis` (or `policy: redis`), checked by one Lua script per
 * request so that every instance sharing the Redis counts as one. Refusals get 429, Retry-After
 * and the RateLimit-* fields; allowed responses get the RateLimit-* fields too unless `headers: false`.
 */
import type { z } from "zod";
import { parseTime } from "../../config/units.js";
import type { RequestPhaseContext } from "../../lifecycle/context.js";
import { definePlugin } from "../../lifecycle/plugin.js";
import { instanceId, redisFor } from "../../limits/instance.js";
import { compileKey, type KeyFunction, keyNeedsConsumer, limitUsesPhase } from "../../limits/key.js";
import { type LimitHeaders, type Rejecter, reject, setRateLimitHeaders } from "../../limits/reject.js";
import { guardedCheck, StoreGuard } from "../../limits/store-guard.js";
import { type LimitCountConfig, limitCountSchema } from "./schema.js";
import { MemoryCountStore } from "./stores/memory.js";
import { RedisCountStore } from "./stores/redis.js";
import type { CompiledLimit, CountStore, CountVerdict } from "./stores/types.js";

declare module "../../config/schema.js" {
  interface PluginConfigMap {
    limitCount: z.input<typeof limitCountSchema>;
  }
}

interface LimitCountState extends Rejecter {
  key: KeyFunction;
  /** The key names the consumer: the limit counts in the access phase, after the auth plugins. */
  afterAuth: boolean;
  store: CountStore;
  guard: StoreGuard;
  headers: boolean;
  policy: string;
}

function compileLimits(conf: LimitCountConfig): CompiledLimit[] {
  const list = conf.limits ?? [{ count: conf.count as number, window: conf.window as string | number, type: conf.type }];
  return list.map((limit) => ({ count: limit.count, windowMs: Math.round(parseTime(limit.window)), sliding: limit.type === "sliding" }));
}

function headersOf(state: LimitCountState, verdict: CountVerdict): LimitHeaders {
  return { limit: verdict.limit, remaining: verdict.remaining, resetMs: verdict.resetMs, policy: state.policy };
}

function decide(state: LimitCountState, ctx: RequestPhaseContext, key: string, verdict: CountVerdict) {
  if (!verdict.allowed) return reject(state, ctx, key, verdict.retryAfterMs, headersOf(state, verdict));
  // Set now, they go out with whatever answers (the proxy adds them to the upstream's headers): no headerFilter needed.
  if (state.headers) setRateLimitHeaders(ctx.response.headers, headersOf(state, verdict));
  return undefined;
}

/** The limit's hook, in preaccess or access (limitUsesPhase). */
function check(ctx: RequestPhaseContext, state: LimitCountState) {
  return guardedCheck(state, ctx, state.key(ctx), count, decide);
}

/** The store call, for guardedCheck. */
function count(state: LimitCountState, key: string) {
  return state.store.check(key);
}

export const limitCount = definePlugin({
  name: "limitCount",
  priority: 1002,
  description: "Limits requests per time window per key (client address, consumer, header, template or hook): fixed or sliding windows, in memory or in Redis.",
  schema: limitCountSchema,
  async init(conf: LimitCountConfig, env): Promise<LimitCountState> {
    const limits = compileLimits(conf);
    const id = instanceId("limitCount", { ...conf, status: undefined, message: undefined, headers: undefined }, env);
    const client = await redisFor(conf.policy, env);
    const store = env.keep(`${id}:${client ? "redis" : "memory"}`, () =>
      client ? new RedisCountStore(client, limits, id) : new MemoryCountStore(limits, conf.maxKeys),
    );
    return {
      plugin: "limitCount",
      key: await compileKey(conf.key, env),
      afterAuth: keyNeedsConsumer(conf.key),
      store,
      guard: new StoreGuard("limitCount", conf.onStoreError === "allow", env.logger),
      headers: conf.headers,
      // draft-ietf-httpapi-ratelimit-headers: "10;w=60, 1000;w=3600"
      policy: limits.map((limit) => `${limit.count};w=${Math.max(1, Math.round(limit.windowMs / 1000))}`).join(", "),
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
});
