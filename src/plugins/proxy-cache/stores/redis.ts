/**
 * A Redis zone, shared by every Portico instance on the same Redis: one key per entry under
 * `cache:ZONE:` (after the client's keyPrefix, "portico:" by default), its value one packed buffer (a JSON head with the http-cache-semantics
 * policy, then the body), with a TTL of freshness + stale windows + keepExpired. Prefix purges
 * walk the zone with SCAN. A Redis that fails is a miss (the request goes upstream), never an error.
 */
import CachePolicy from "http-cache-semantics";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { storeFailed } from "../../../observability/channels.js";
import { belongsTo, type CacheItem, type CacheStore, type PurgeTarget } from "./store.js";

const RESPONSE = 0x52; // "R"
const VARY = 0x56; // "V"

export function pack(item: CacheItem): Buffer {
  if (item.kind === "vary") return Buffer.concat([Buffer.from([VARY]), Buffer.from(JSON.stringify(item.vary))]);
  const head = Buffer.from(JSON.stringify({ s: item.status, p: item.policy.toObject() }));
  const out = Buffer.allocUnsafe(5 + head.length + item.body.length);
  out[0] = RESPONSE;
  out.writeUInt32BE(head.length, 1);
  head.copy(out, 5);
  item.body.copy(out, 5 + head.length);
  return out;
}

export function unpack(raw: Buffer): CacheItem | undefined {
  if (raw[0] === VARY) return { kind: "vary", vary: JSON.parse(raw.subarray(1).toString("utf8")) as string[] };
  if (raw[0] !== RESPONSE || raw.length < 5) return undefined;
  const headLength = raw.readUInt32BE(1);
  const head = JSON.parse(raw.subarray(5, 5 + headLength).toString("utf8")) as { s: number; p: CachePolicy.CachePolicyObject };
  return { kind: "response", status: head.s, policy: CachePolicy.fromObject(head.p), body: raw.subarray(5 + headLength) };
}

/** SCAN MATCH pattern for keys that start with `prefix` (glob characters escaped). */
function globPrefix(prefix: string): string {
  return `${prefix.replace(/[*?[\]\\]/g, "\\$&")}*`;
}

export class RedisCacheStore implements CacheStore {
  readonly kind = "redis";
  readonly zone: string;
  readonly #redis: Redis;
  readonly #logger: Logger;
  readonly #prefix: string;
  #failing = false;

  constructor(zone: string, redis: Redis, logger: Logger) {
    this.zone = zone;
    this.#redis = redis;
    this.#logger = logger;
    this.#prefix = `cache:${zone}:`;
  }

  #failed(error: unknown): undefined {
    if (!this.#failing) {
      this.#failing = true;
      this.#logger.error({ code: "PTC_ERR_CACHE_STORE_FAILED", zone: this.zone, err: error }, "proxyCache: Redis failed; requests go upstream meanwhile");
    }
    if (storeFailed.hasSubscribers) storeFailed.publish({ plugin: "proxyCache", failOpen: true, error: (error as Error)?.message ?? String(error) });
    return undefined;
  }

  #ok(): void {
    if (this.#failing) {
      this.#failing = false;
      this.#logger.info({ zone: this.zone }, "proxyCache: Redis is back");
    }
  }

  /** Just after start the client is still connecting: wait for it a little (at most 1 s) rather than miss. */
  #ready(): Promise<void> | null {
    const status = this.#redis.status;
    if (status !== "wait" && status !== "connecting" && status !== "connect") return null;
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, 1000);
      const redis = this.#redis;
      function done() {
        clearTimeout(timer);
        redis.off("ready", done);
        resolve();
      }
      redis.once("ready", done);
    });
  }

  async get(key: string): Promise<CacheItem | undefined> {
    await this.#ready();
    try {
      const raw = await this.#redis.getBuffer(this.#prefix + key);
      this.#ok();
      return raw === null ? undefined : unpack(raw);
    } catch (error) {
      return this.#failed(error);
    }
  }

  async set(key: string, item: CacheItem, ttl: number): Promise<void> {
    await this.#ready();
    try {
      await this.#redis.set(this.#prefix + key, pack(item), "PX", Math.max(1, Math.ceil(ttl)));
      this.#ok();
    } catch (error) {
      this.#failed(error);
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await this.#redis.del(this.#prefix + key);
    } catch (error) {
      this.#failed(error);
    }
  }

  /** Errors reach the caller here: a purge that did not happen must say so. */
  async purge(target: PurgeTarget): Promise<number> {
    const redis = this.#redis;
    // SCAN sees the client's own keyPrefix (ioredis adds it to DEL, not to SCAN patterns).
    const clientPrefix = redis.options.keyPrefix ?? "";
    const start = target.key !== undefined ? target.key : target.prefix;
    let count = 0;
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", globPrefix(clientPrefix + this.#prefix + start), "COUNT", 500);
      cursor = next;
      const mine = keys
        .map((full) => full.slice(clientPrefix.length + this.#prefix.length))
        .filter((key) => (target.key !== undefined ? belongsTo(key, target.key) : true));
      if (mine.length > 0) count += await redis.del(...mine.map((key) => this.#prefix + key));
    } while (cursor !== "0");
    return count;
  }

  close(): void {
    // The client belongs to the gateway (env.redis()).
  }
}
