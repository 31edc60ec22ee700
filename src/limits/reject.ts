/**
 * The answer of a limit that refuses a request: a status (429 unless configured), a short JSON
 * body, `Retry-After` (RFC 9110 10.2.3, in seconds) and the rate-limit fields of
 * draft-ietf-httpapi-ratelimit-headers (`RateLimit-Limit`, `RateLimit-Remaining`,
 * `RateLimit-Reset` as delta seconds, and `RateLimit-Policy`).
 */
import type { OutgoingHttpHeaders } from "node:http";
import { z } from "zod";
import type { RequestPhaseContext } from "../lifecycle/context.js";
import { limitRejected } from "../observability/channels.js";

export const rejectShape = {
  status: z.number().int().min(400).max(599).default(429).describe("Status of a refused request (default 429 Too Many Requests)."),
  message: z.string().default("API rate limit exceeded").describe("Message of the refusal's JSON body."),
};

/** `policy` and `onStoreError`, common to the three limit plugins. */
export const storeShape = {
  policy: z
    .enum(["local", "redis"])
    .optional()
    .describe(
      'Where the counters live: "local" (this process) or "redis" (the top-level redis, shared by every instance). Default: redis when the config has one.',
    ),
  onStoreError: z
    .enum(["allow", "deny"])
    .default("allow")
    .describe('When Redis fails: "allow" lets requests through (fail open, the default), "deny" refuses them with 503 (fail closed).'),
};

/** Whole seconds, at least 1 for anything in the future: clients must not retry at once. */
export function ceilSeconds(ms: number): number {
  return ms <= 0 ? 0 : Math.max(1, Math.ceil(ms / 1000));
}

export interface LimitHeaders {
  limit: number;
  remaining: number;
  resetMs: number;
  policy: string | null;
}

/** Writes the RateLimit-* fields into `headers`. */
export function setRateLimitHeaders(headers: OutgoingHttpHeaders, info: LimitHeaders): void {
  headers["ratelimit-limit"] = String(info.limit);
  headers["ratelimit-remaining"] = String(Math.max(0, info.remaining));
  headers["ratelimit-reset"] = String(ceilSeconds(info.resetMs));
  if (info.policy !== null) headers["ratelimit-policy"] = info.policy;
}

export interface Rejecter {
  plugin: string;
  status: number;
  message: string;
  logger: { info: (obj: object, msg: string) => void };
}

/** Refuses the request: logs it, publishes `limitRejected`, returns the exit. */
export function reject(r: Rejecter, ctx: RequestPhaseContext, key: string, retryAfterMs: number, info: LimitHeaders | null) {
  const headers: OutgoingHttpHeaders = {};
  if (retryAfterMs > 0) headers["retry-after"] = String(ceilSeconds(retryAfterMs));
  if (info) setRateLimitHeaders(headers, info);
  // The key may be an API key: log only its length and the client address.
  r.logger.info(
    { code: "PTC_ERR_LIMIT_EXCEEDED", requestId: ctx.requestId, ip: ctx.request.ip, keyLength: key.length, location: ctx.location.key },
    `${r.plugin}: limit exceeded`,
  );
  if (limitRejected.hasSubscribers) limitRejected.publish({ plugin: r.plugin, location: ctx.location.key, virtualHost: ctx.virtualHost.name });
  return ctx.exit(r.status, { message: r.message, requestId: ctx.requestId }, headers);
}
