/**
 * proxyCache: HTTP caching in front of a location's proxy, by RFC 9111 as http-cache-semantics
 * decides it (shared-cache mode), with nginx's vocabulary: proxy_cache_key, proxy_cache_lock,
 * proxy_cache_bypass, $upstream_cache_status. Its content hook answers from the cache or makes the
 * upstream request itself (fetchUpstream) to stream the answer to the client while keeping a copy.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http";
import { pipeline, type Readable, Transform } from "node:stream";
import CachePolicy from "http-cache-semantics";
import type { Logger } from "pino";
import type { z } from "zod";
import { parseSize, parseTime } from "../../config/units.js";
import { ERRORS } from "../../errors.js";
import type { RequestPhaseContext } from "../../lifecycle/context.js";
import { canFetchUpstream, errorCode, fetchUpstream, type UpstreamAnswer } from "../../lifecycle/fetch-upstream.js";
import { definePlugin, type PluginEnv } from "../../lifecycle/plugin.js";
import { cacheStatus } from "../../observability/channels.js";
import { compileKey, type KeyFunction, variantKey, varyNames } from "./key.js";
import { KeyLock } from "./lock.js";
import { type ProxyCacheConfig, proxyCacheSchema } from "./schema.js";
import { MemoryCacheStore } from "./stores/memory.js";
import { RedisCacheStore } from "./stores/redis.js";
import type { CachedResponse, CacheItem, CacheStore, PurgeTarget } from "./stores/store.js";

declare module "../../config/schema.js" {
  interface PluginConfigMap {
    proxyCache: z.input<typeof proxyCacheSchema>;
  }
}

export type CacheStatus = "HIT" | "MISS" | "EXPIRED" | "STALE" | "BYPASS" | "REVALIDATED";

/** One cache zone: its store and its lock, kept across reloads (env.keep). The gateway's purgeCache() finds it by its `purge`. */
export class CacheZone {
  readonly store: CacheStore;
  readonly lock = new KeyLock();
  constructor(store: CacheStore) {
    this.store = store;
  }
  purge(target: PurgeTarget): Promise<number> {
    return this.store.purge(target);
  }
  close(): void | Promise<void> {
    return this.store.close();
  }
}

interface CacheInstance {
  zone: CacheZone;
  store: CacheStore;
  lock: KeyLock;
  key: KeyFunction;
  methods: ReadonlySet<string>;
  statusHeader: string | null;
  maxBodySize: number;
  useLock: boolean;
  lockTimeout: number;
  keepExpired: number;
  bypass: ((ctx: RequestPhaseContext) => boolean) | null;
  hostInKey: boolean;
  logger: Logger;
}

/** RFC 9110 9.2.1: a cache invalidates what an unsafe request changes (RFC 9111 4.4). */
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS", "TRACE"]);
/** The client's conditionals and ranges are the cache's to answer: the upstream gets a plain GET. */
const CLIENT_ONLY = new Set(["if-none-match", "if-modified-since", "if-match", "if-unmodified-since", "if-range", "range"]);
const EMPTY = Buffer.alloc(0);

/** nginx proxy_cache_bypass: a value that is present, not empty and not "0". */
function present(value: string | string[] | null | undefined): boolean {
  if (value === undefined || value === null) return false;
  const text = Array.isArray(value) ? value.join("") : value;
  return text !== "" && text !== "0";
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(";")) {
    const at = part.indexOf("=");
    if (at !== -1 && part.slice(0, at).trim() === name) return part.slice(at + 1).trim();
  }
  return undefined;
}

function compileBypass(conf: ProxyCacheConfig["bypass"]): CacheInstance["bypass"] {
  const headers = conf.headers.map((name) => name.toLowerCase());
  const { cookies, query } = conf;
  if (headers.length === 0 && cookies.length === 0 && query.length === 0) return null;
  return (ctx) => {
    const h = ctx.request.headers;
    for (const name of headers) if (present(h[name])) return true;
    for (const name of cookies) if (present(cookieValue(h.cookie, name))) return true;
    if (query.length > 0) for (const name of query) if (present(ctx.request.query.get(name))) return true;
    return false;
  };
}

/**
 * The request as http-cache-semantics sees it when it makes a policy: only what the policy keeps
 * (Host, whether there is an Authorization, the request's Cache-Control/Pragma, the Vary fields),
 * so that no credential or cookie is ever stored.
 */
function policyRequest(ctx: RequestPhaseContext, inst: CacheInstance, vary: readonly string[]): CachePolicy.HttpRequest {
  const h = ctx.request.headers;
  const headers: CachePolicy.Headers = { host: inst.hostInKey ? h.host : "" };
  if (h.authorization !== undefined) headers.authorization = "present";
  if (h["cache-control"] !== undefined) headers["cache-control"] = h["cache-control"];
  if (h.pragma !== undefined) headers.pragma = h.pragma;
  for (const name of vary) if (name !== "*" && h[name] !== undefined) headers[name] = h[name];
  return { method: "GET", headers };
}

/** The request as http-cache-semantics sees it when it looks up an entry (HEAD is served from GET). */
function lookupRequest(ctx: RequestPhaseContext, inst: CacheInstance): CachePolicy.HttpRequest {
  const h = ctx.request.headers;
  return { method: "GET", headers: (inst.hostInKey ? h : { ...h, host: "" }) as CachePolicy.Headers };
}

/** The client's headers for the upstream request, without the conditionals and ranges the cache answers itself. */
function upstreamHeaders(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (const name in headers) if (!CLIENT_ONLY.has(name)) out[name] = headers[name];
  return out;
}

/** A stored entry, or its variant when the entry's response had Vary; synchronous for memory. */
function lookup(inst: CacheInstance, key: string, headers: IncomingHttpHeaders): CachedResponse | undefined | Promise<CachedResponse | undefined> {
  const pick = (item: CacheItem | undefined): CachedResponse | undefined | Promise<CachedResponse | undefined> => {
    if (item?.kind !== "vary") return item;
    const variant = inst.store.get(variantKey(key, item.vary, headers));
    const only = (found: CacheItem | undefined) => (found?.kind === "response" ? found : undefined);
    return variant instanceof Promise ? variant.then(only) : only(variant);
  };
  const first = inst.store.get(key);
  return first instanceof Promise ? first.then(pick) : pick(first);
}

function publish(ctx: RequestPhaseContext, status: CacheStatus): void {
  if (cacheStatus.hasSubscribers) cacheStatus.publish({ status, location: ctx.location.key, virtualHost: ctx.virtualHost.name });
}

/** RFC 9110 13.1.1/13.1.3: whether the client's validators match the stored response (weak comparison for GET). */
function notModified(request: IncomingHttpHeaders, headers: CachePolicy.Headers): boolean {
  const inm = request["if-none-match"];
  if (inm !== undefined) {
    const etag = headers.etag;
    if (typeof etag !== "string") return false;
    const strip = (tag: string) => tag.trim().replace(/^W\//, "");
    const want = strip(etag);
    return inm.trim() === "*" || inm.split(",").some((tag) => strip(tag) === want);
  }
  const ims = request["if-modified-since"];
  const lastModified = headers["last-modified"];
  if (ims === undefined || typeof lastModified !== "string") return false;
  const since = Date.parse(ims);
  const modified = Date.parse(lastModified);
  return Number.isFinite(since) && Number.isFinite(modified) && modified <= since;
}

/** Answers from a stored entry: `headers` are the policy's (Age updated, hop-by-hop gone). */
function serve(ctx: RequestPhaseContext, inst: CacheInstance, entry: CachedResponse, headers: CachePolicy.Headers, status: CacheStatus): Buffer {
  if (inst.statusHeader !== null) headers[inst.statusHeader] = status;
  ctx.response.status = entry.status;
  ctx.response.headers = headers as OutgoingHttpHeaders;
  publish(ctx, status);
  if (entry.status === 200 && notModified(ctx.request.headers, headers)) {
    ctx.response.status = 304;
    return EMPTY;
  }
  return entry.body;
}

/** The upstream could not be reached and nothing stale may stand in: the proxy's own error answer. */
function upstreamFailed(ctx: RequestPhaseContext, inst: CacheInstance, error: unknown) {
  const code = errorCode(error);
  const { status, message } = ERRORS[code];
  inst.logger.error(
    { code, requestId: ctx.requestId, location: ctx.location.key, err: { code: (error as { code?: string }).code, message: (error as Error).message } },
    code === "PTC_ERR_UPSTREAM_TIMEOUT" ? "upstream timed out" : "upstream request failed",
  );
  return ctx.exit(status, { message, requestId: ctx.requestId });
}

/** How long a store keeps an entry: its useful life (freshness + stale-*), plus keepExpired when it can be revalidated. */
function keepFor(inst: CacheInstance, entry: CachedResponse): number {
  const headers = entry.policy.responseHeaders();
  const validator = headers.etag !== undefined || headers["last-modified"] !== undefined;
  return entry.policy.timeToLive() + (validator ? inst.keepExpired : 0);
}

async function save(inst: CacheInstance, key: string, entry: CachedResponse, vary: readonly string[], headers: IncomingHttpHeaders): Promise<void> {
  const ttl = keepFor(inst, entry);
  if (ttl <= 0) return;
  if (vary.length === 0) {
    await inst.store.set(key, entry, ttl);
    return;
  }
  await inst.store.set(key, { kind: "vary", vary }, ttl);
  await inst.store.set(variantKey(key, vary, headers), entry, ttl);
}

/**
 * Passes the body on while keeping a copy of up to `limit` bytes; `done` gets the whole body, or
 * null (too large, cut short). The response ends once `done` has stored it, so that the client's
 * next request finds it (Redis included).
 */
function tee(body: Readable, limit: number, done: (whole: Buffer | null) => void | Promise<void>): Readable {
  const chunks: Buffer[] = [];
  let size = 0;
  let keep = true;
  let finished = false;
  const finish = (whole: Buffer | null): void | Promise<void> => {
    if (finished) return;
    finished = true;
    return done(whole);
  };
  const copy = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (keep) {
        size += chunk.length;
        if (size > limit) {
          keep = false;
          chunks.length = 0;
          finish(null);
        } else chunks.push(chunk);
      }
      callback(null, chunk);
    },
    flush(callback) {
      const stored = finish(keep ? Buffer.concat(chunks, size) : null);
      if (stored instanceof Promise)
        stored.then(
          () => callback(),
          () => callback(),
        );
      else callback();
    },
  });
  pipeline(body, copy, (error) => {
    if (error) finish(null);
  });
  return copy;
}

async function readUpTo(body: Readable, limit: number): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      body.destroy();
      return null;
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, size);
}

/** A full response from the upstream: the policy it gets, and whether it may be stored (nginx never stores a Set-Cookie response). */
function judge(
  ctx: RequestPhaseContext,
  inst: CacheInstance,
  answer: UpstreamAnswer,
): { entryOf: (body: Buffer) => CachedResponse; vary: string[]; storable: boolean } {
  const vary = varyNames(answer.headers.vary);
  const policy = new CachePolicy(policyRequest(ctx, inst, vary), { status: answer.status, headers: answer.headers }, { shared: true });
  const length = Number(answer.headers["content-length"] ?? 0);
  const storable = policy.storable() && answer.headers["set-cookie"] === undefined && length <= inst.maxBodySize;
  return { entryOf: (body) => ({ kind: "response", status: answer.status, policy, body }), vary, storable };
}

/** Sends a full upstream response to the client, keeping a copy when it may be stored. */
function passOn(
  ctx: RequestPhaseContext,
  inst: CacheInstance,
  key: string,
  answer: UpstreamAnswer,
  status: CacheStatus,
  store: boolean,
  finish: () => void,
): Readable {
  const headers: OutgoingHttpHeaders = { ...answer.headers };
  delete headers.date;
  if (inst.statusHeader !== null) headers[inst.statusHeader] = status;
  ctx.response.status = answer.status;
  ctx.response.headers = headers;
  publish(ctx, status);
  const verdict = store ? judge(ctx, inst, answer) : null;
  if (verdict === null || !verdict.storable) {
    finish();
    return answer.body;
  }
  const requestHeaders = ctx.request.headers;
  return tee(answer.body, inst.maxBodySize, (whole) => {
    if (whole === null) {
      finish();
      return;
    }
    return save(inst, key, verdict.entryOf(whole), verdict.vary, requestHeaders).then(finish, (error: unknown) => {
      inst.logger.warn({ err: error, key }, "proxyCache: storing failed");
      finish();
    });
  });
}

/** Goes upstream for a miss (entry null) or a revalidation (conditional request); `release` frees the key's lock. */
async function fromUpstream(
  ctx: RequestPhaseContext,
  inst: CacheInstance,
  key: string,
  entry: CachedResponse | null,
  status: CacheStatus,
  release: (() => void) | null,
  store = true,
) {
  let released = false;
  const finish = () => {
    if (released) return;
    released = true;
    release?.();
  };
  // What is not stored (a Range) goes as the client sent it; what may be stored is asked for whole.
  const base = store ? upstreamHeaders(ctx.request.headers) : ctx.request.headers;
  let answer: UpstreamAnswer;
  try {
    answer = await fetchUpstream(ctx, {
      method: "GET",
      headers: entry ? entry.policy.revalidationHeaders({ method: "GET", headers: base as CachePolicy.Headers }) : base,
    });
  } catch (error) {
    finish();
    // stale-if-error (RFC 5861 4): the library says whether the stored response may stand in.
    if (entry && !entry.policy.revalidatedPolicy(lookupRequest(ctx, inst), { status: 502, headers: {} }).modified) {
      inst.logger.warn(
        { requestId: ctx.requestId, key, err: { message: (error as Error).message } },
        "proxyCache: upstream failed, serving stale (stale-if-error)",
      );
      return serve(ctx, inst, entry, entry.policy.responseHeaders(), "STALE");
    }
    return upstreamFailed(ctx, inst, error);
  }
  if (entry) {
    const vary = varyNames(entry.policy.responseHeaders().vary);
    const { policy, modified } = entry.policy.revalidatedPolicy(policyRequest(ctx, inst, vary), { status: answer.status, headers: answer.headers });
    if (!modified) {
      // 304, or a 5xx that stale-if-error covers: the stored body stands.
      answer.body.resume();
      if (answer.status !== 304) {
        finish();
        return serve(ctx, inst, entry, entry.policy.responseHeaders(), "STALE");
      }
      const updated: CachedResponse = { kind: "response", status: entry.status, policy, body: entry.body };
      if (policy.storable()) await save(inst, key, updated, vary, ctx.request.headers).catch(() => undefined);
      finish();
      return serve(ctx, inst, updated, policy.responseHeaders(), "REVALIDATED");
    }
  }
  return passOn(ctx, inst, key, answer, status, store, finish);
}

/** Misses and synchronous revalidations go through the lock: one request upstream per key, the others wait and look again. */
async function throughLock(
  ctx: RequestPhaseContext,
  inst: CacheInstance,
  key: string,
  entry: CachedResponse | null,
  status: CacheStatus,
  waited: boolean,
): Promise<unknown> {
  if (!inst.useLock || waited) return fromUpstream(ctx, inst, key, entry, status, null);
  const release = inst.lock.take(key);
  if (release !== null) return fromUpstream(ctx, inst, key, entry, status, release);
  // nginx proxy_cache_lock_timeout: past it, go upstream without waiting any longer.
  if (!(await inst.lock.wait(key, inst.lockTimeout))) return fromUpstream(ctx, inst, key, entry, status, null);
  return decide(ctx, inst, key, await lookup(inst, key, ctx.request.headers), true);
}

/** stale-while-revalidate (RFC 5861 3): the stale answer went out; refresh the entry once, in the background. */
function refreshInBackground(ctx: RequestPhaseContext, inst: CacheInstance, key: string, entry: CachedResponse): void {
  const release = inst.lock.take(key);
  if (release === null) return;
  const headers = entry.policy.revalidationHeaders({ method: "GET", headers: upstreamHeaders(ctx.request.headers) as CachePolicy.Headers });
  const refresh = async () => {
    const answer = await fetchUpstream(ctx, { method: "GET", headers });
    const vary = varyNames(entry.policy.responseHeaders().vary);
    const { policy, modified } = entry.policy.revalidatedPolicy(policyRequest(ctx, inst, vary), { status: answer.status, headers: answer.headers });
    if (!modified) {
      answer.body.resume();
      if (answer.status === 304 && policy.storable()) {
        await save(inst, key, { kind: "response", status: entry.status, policy, body: entry.body }, vary, ctx.request.headers);
      }
      return;
    }
    const verdict = judge(ctx, inst, answer);
    if (!verdict.storable) {
      answer.body.destroy();
      return;
    }
    const whole = await readUpTo(answer.body, inst.maxBodySize);
    if (whole !== null) await save(inst, key, verdict.entryOf(whole), verdict.vary, ctx.request.headers);
  };
  refresh().then(release, (error: unknown) => {
    inst.logger.warn({ key, err: { message: (error as Error).message } }, "proxyCache: background refresh failed");
    release();
  });
}

/** What to do with what the lookup found: http-cache-semantics decides. */
function decide(ctx: RequestPhaseContext, inst: CacheInstance, key: string, entry: CachedResponse | undefined, waited = false): unknown {
  if (entry === undefined) return throughLock(ctx, inst, key, null, "MISS", waited);
  const { revalidation, response } = entry.policy.evaluateRequest(lookupRequest(ctx, inst));
  if (revalidation === undefined) return serve(ctx, inst, entry, response.headers, "HIT");
  if (response !== undefined && !revalidation.synchronous) {
    refreshInBackground(ctx, inst, key, entry);
    return serve(ctx, inst, entry, response.headers, "STALE");
  }
  return throughLock(ctx, inst, key, entry, "EXPIRED", waited);
}

function zoneFor(conf: ProxyCacheConfig, env: PluginEnv): CacheZone {
  if (conf.store === "redis") {
    const redis = env.redis();
    if (redis === null) throw new Error('store "redis" needs the top-level redis: { url }');
    const url = (env.config.redis as { url?: string } | undefined)?.url ?? "";
    return env.keep(`redis:${conf.zone}:${url}`, () => new CacheZone(new RedisCacheStore(conf.zone, redis, env.logger)));
  }
  const maxSize = parseSize(conf.maxSize);
  return env.keep(`memory:${conf.zone}:${maxSize}`, () => new CacheZone(new MemoryCacheStore(conf.zone, maxSize)));
}

export const proxyCache = definePlugin({
  name: "proxyCache",
  priority: 100,
  description:
    "HTTP cache in front of the proxy (RFC 9111 via http-cache-semantics): memory or Redis, Vary, revalidation, stale-while-revalidate/if-error, a lock per key.",
  schema: proxyCacheSchema,
  init(conf: ProxyCacheConfig, env): CacheInstance {
    const zone = zoneFor(conf, env);
    return {
      zone,
      store: zone.store,
      lock: zone.lock,
      key: compileKey(conf.key),
      methods: new Set(conf.methods),
      statusHeader: conf.cacheStatusHeader === false ? null : conf.cacheStatusHeader.toLowerCase(),
      maxBodySize: parseSize(conf.maxBodySize),
      useLock: conf.lock,
      lockTimeout: parseTime(conf.lockTimeout),
      keepExpired: parseTime(conf.keepExpired),
      bypass: compileBypass(conf.bypass),
      hostInKey: conf.key.host,
      logger: env.logger,
    };
  },
  content(ctx, inst) {
    const method = ctx.request.method;
    if (!inst.methods.has(method)) return undefined;
    if (!canFetchUpstream(ctx)) return undefined;
    const key = inst.key(ctx, "GET");
    // Ranges are passed through (not from the cache, not stored).
    if (ctx.request.headers.range !== undefined) return fromUpstream(ctx, inst, key, null, "BYPASS", null, false);
    if (inst.bypass?.(ctx)) return fromUpstream(ctx, inst, key, null, "BYPASS", null);
    const found = lookup(inst, key, ctx.request.headers);
    return found instanceof Promise ? found.then((entry) => decide(ctx, inst, key, entry)) : decide(ctx, inst, key, found);
  },
  headerFilter(ctx, inst) {
    // RFC 9111 4.4: an unsafe request invalidates the stored response of its target, and only
    // when it succeeded (a non-error status); done before the answer goes out, so that the
    // client's next GET cannot find the old entry.
    const method = ctx.request.method;
    const status = ctx.response.status;
    if (SAFE_METHODS.has(method) || inst.methods.has(method) || status < 200 || status >= 400) return undefined;
    const deleted = inst.store.delete(inst.key(ctx, "GET"));
    if (!(deleted instanceof Promise)) return undefined;
    return deleted.then(
      () => undefined,
      (error: unknown) => inst.logger.warn({ err: error, requestId: ctx.requestId }, "proxyCache: invalidation failed"),
    );
  },
});
