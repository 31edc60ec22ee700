/**
 * limitReq: nginx's limit_req, a leaky bucket per key. Requests beyond `rate` wait, spaced out at
 * the rate, up to `burst` of them; beyond the burst they are refused. `nodelay` serves the burst
 * at once; `delay: N` serves the first N excess requests at once and spaces out the rest (nginx
 * 1.15.7's two-stage limiting). State in memory by default, in Redis with a top-level `redis`.
 */
import type { z } from "zod";
import type { RequestPhaseContext } from "../../lifecycle/context.js";
import { definePlugin } from "../../lifecycle/plugin.js";
import { instanceId, redisFor } from "../../limits/instance.js";
import { compileKey, type KeyFunction, keyNeedsConsumer, limitUsesPhase } from "../../limits/key.js";
import { type Rejecter, reject } from "../../limits/reject.js";
import { guardedCheck, StoreGuard } from "../../limits/store-guard.js";
import { type LimitReqConfig, limitReqSchema, parseRate } from "./schema.js";
import { MemoryReqStore } from "./stores/memory.js";
import { RedisReqStore } from "./stores/redis.js";
import type { ReqStore, ReqVerdict } from "./stores/types.js";

declare module "../../config/schema.js" {
  interface PluginConfigMap {
    limitReq: z.input<typeof limitReqSchema>;
  }
}

interface LimitReqState extends Rejecter {
  key: KeyFunction;
  /** The key names the consumer: the limit counts in the access phase, after the auth plugins. */
  afterAuth: boolean;
  store: ReqStore;
  guard: StoreGuard;
  /** Requests per 1000 s. */
  rate: number;
  /** Milli-requests. */
  burst: number;
  /** Excess served without delay, in milli-requests (Infinity for nodelay). */
  delay: number;
}

function sleep(ms: number): Promise<undefined> {
  return new Promise((resolve) => setTimeout(resolve, ms, undefined));
}

function decide(state: LimitReqState, ctx: RequestPhaseContext, key: string, verdict: ReqVerdict) {
  if (!verdict.allowed) {
    const retryAfterMs = Math.ceil(((verdict.excess - state.burst) * 1000) / state.rate);
    const info = { limit: state.burst / 1000 + 1, remaining: 0, resetMs: Math.ceil((verdict.excess * 1000) / state.rate), policy: null };
    return reject(state, ctx, key, retryAfterMs, info);
  }
  // ngx_http_limit_req_account: an excess above `delay` waits until the bucket has leaked it.
  if (verdict.excess <= state.delay) return undefined;
  return sleep(Math.trunc(((verdict.excess - state.delay) * 1000) / state.rate));
}

/** The limit's hook, in preaccess or access (limitUsesPhase). */
function check(ctx: RequestPhaseContext, state: LimitReqState) {
  return guardedCheck(state, ctx, state.key(ctx), take, decide);
}

/** The store call, for guardedCheck. */
function take(state: LimitReqState, key: string) {
  return state.store.take(key);
}

export const limitReq = definePlugin({
  name: "limitReq",
  priority: 1001,
  description: "Limits the request rate per key with nginx's leaky bucket (rate, burst, nodelay, delay), in memory or in Redis.",
  schema: limitReqSchema,
  async init(conf: LimitReqConfig, env): Promise<LimitReqState> {
    const rate = parseRate(conf.rate);
    const id = instanceId("limitReq", { ...conf, status: undefined, message: undefined }, env);
    const client = await redisFor(conf.policy, env);
    const store = env.keep(`${id}:${client ? "redis" : "memory"}`, () =>
      client ? new RedisReqStore(client, rate, conf.burst, id) : new MemoryReqStore(rate, conf.burst, conf.maxKeys),
    );
    return {
      plugin: "limitReq",
      key: await compileKey(conf.key, env),
      afterAuth: keyNeedsConsumer(conf.key),
      store,
      guard: new StoreGuard("limitReq", conf.onStoreError === "allow", env.logger),
      rate,
      burst: conf.burst * 1000,
      delay: conf.nodelay ? Number.POSITIVE_INFINITY : (conf.delay ?? 0) * 1000,
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
