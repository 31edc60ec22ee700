/**
 * Purging a config's cache zones from outside the running gateway (`portico cache purge`): the
 * zones its proxyCache blocks name, Redis zones purged straight in the config's Redis, and memory
 * zones (which live inside the running process) purged through its admin API. The command in
 * src/cli/cache.ts keeps only the arguments, the output and the exit code.
 */
import { Redis } from "ioredis";
import { pino } from "pino";
import { type AdminSettings, adminClientUrl } from "../../config/admin.js";
import { RedisCacheStore } from "./stores/redis.js";
import type { PurgeTarget } from "./stores/store.js";

type Validated = Record<string, unknown>;

/** The zones of a config by where they live; `memory` zones need the running process. */
export interface CacheZones {
  redis: Set<string>;
  memory: Set<string>;
}

/** The proxyCache blocks of a config: top level, virtual hosts, locations. */
function cacheBlocks(config: Validated): Validated[] {
  const out: Validated[] = [];
  const take = (node: Validated | undefined) => {
    const conf = node?.proxyCache;
    if (conf && typeof conf === "object") out.push(conf as Validated);
  };
  take(config);
  for (const vhost of Object.values((config.virtualHosts ?? {}) as Record<string, Validated>)) {
    take(vhost);
    for (const loc of Object.values((vhost.locations ?? {}) as Record<string, Validated>)) take(loc);
  }
  return out;
}

/** The cache zones a validated config names (only `zone` when given); both sets empty when it has no proxyCache. */
export function cacheZones(config: Validated, zone?: string): CacheZones {
  const blocks = cacheBlocks(config).filter((conf) => zone === undefined || (conf.zone ?? "default") === zone);
  const name = (conf: Validated) => String(conf.zone ?? "default");
  return {
    redis: new Set(blocks.filter((conf) => conf.store === "redis").map(name)),
    memory: new Set(blocks.filter((conf) => conf.store !== "redis").map(name)),
  };
}

/**
 * Purges `zones` in the config's Redis (`redis: { url, keyPrefix }`), one zone after the other,
 * calling `purged` after each. Rejects when Redis fails: the zones reported before stay purged.
 */
export async function purgeRedisZones(
  settings: { url: string; keyPrefix?: string | undefined },
  zones: Iterable<string>,
  target: PurgeTarget,
  purged: (zone: string, keys: number) => void,
): Promise<void> {
  const redis = new Redis(settings.url, { keyPrefix: settings.keyPrefix ?? "portico:", lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    for (const zone of zones) purged(zone, await new RedisCacheStore(zone, redis, pino({ level: "silent" })).purge(target));
  } finally {
    redis.disconnect();
  }
}

/** Purges one memory zone through the running process's admin API (`POST /api/cache/purge`); resolves with how many keys went. */
export async function purgeThroughAdmin(admin: AdminSettings, zone: string, target: PurgeTarget): Promise<number> {
  const response = await fetch(`${adminClientUrl(admin)}/api/cache/purge`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(admin.token ? { authorization: `Bearer ${admin.token}` } : {}) },
    body: JSON.stringify({ ...target, zone }),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`the admin API answered ${response.status}: ${text.trim()}`);
  return (JSON.parse(text) as { result?: { purged?: number } }).result?.purged ?? 0;
}
