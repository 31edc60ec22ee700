/**
 * What plugins and the proxy report for metrics, logs and the dashboard, as node:diagnostics_channel
 * channels: publishing costs nothing while nobody subscribes, and plugins need not know who listens
 * (the metrics module subscribes; a user's code may too). Publish only after `channel.hasSubscribers`.
 */
import { channel } from "node:diagnostics_channel";

/** A rate or concurrency limit refused a request: `{ plugin, location, virtualHost }`. */
export const limitRejected = channel("portico:limit:rejected");
/** A plugin's shared store (Redis) failed: `{ plugin, failOpen: boolean, error: string }`. */
export const storeFailed = channel("portico:store:failed");
/** A proxyCache lookup ended: `{ status: "HIT" | "MISS" | "EXPIRED" | "STALE" | "BYPASS" | "REVALIDATED" | "UPDATING", location }`. */
export const cacheStatus = channel("portico:cache:status");
/** An upstream server changed state: `{ upstream, server, healthy: boolean, reason }`. */
export const upstreamHealth = channel("portico:upstream:health");
/** An auth plugin refused a request: `{ plugin, reason, location }` (the reason is never a secret). */
export const authRejected = channel("portico:auth:rejected");
/** A reload finished: `{ ok: boolean, errors: number, source: "signal" | "watch" | "admin" | "api" }`. */
export const configReload = channel("portico:config:reload");
