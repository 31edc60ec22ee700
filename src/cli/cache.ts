/**
 * `portico cache purge -c FILE (--key K | --prefix P) [--zone Z]`: Redis zones are purged here,
 * straight in the config's Redis; memory zones live inside the running process, so they are
 * purged through its admin API (`POST /api/cache/purge`) when the config has `admin`.
 */
import { Redis } from "ioredis";
import { pino } from "pino";
import { readConfigSource } from "../config/source.js";
import { validateConfig } from "../config/validate.js";
import { BUILTIN_PLUGINS } from "../plugins/index.js";
import { RedisCacheStore } from "../plugins/proxy-cache/stores/redis.js";
import { adminSettings } from "../server/admin.js";
import { printConfigError } from "./output.js";

type Validated = Record<string, unknown>;

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

export async function cachePurge(file: string, target: { key?: string | undefined; prefix?: string | undefined; zone?: string | undefined }): Promise<number> {
  if ((target.key === undefined) === (target.prefix === undefined) || target.key === "" || target.prefix === "") {
    process.stderr.write("portico cache purge: give either --key KEY or --prefix PREFIX\n");
    return 2;
  }
  let config: Validated;
  let baseDir: string;
  try {
    const source = await readConfigSource(file);
    config = validateConfig(source, BUILTIN_PLUGINS).config as Validated;
    baseDir = source.baseDir;
  } catch (error) {
    printConfigError(error, file);
    return 1;
  }
  const blocks = cacheBlocks(config).filter((conf) => target.zone === undefined || (conf.zone ?? "default") === target.zone);
  if (blocks.length === 0) {
    process.stderr.write(`portico cache purge: ${file} has no proxyCache${target.zone ? ` with zone ${target.zone}` : ""}\n`);
    return 1;
  }
  const what = target.key !== undefined ? { key: target.key } : { prefix: target.prefix as string };
  const redisZones = new Set(blocks.filter((conf) => conf.store === "redis").map((conf) => String(conf.zone ?? "default")));
  const memoryZones = new Set(blocks.filter((conf) => conf.store !== "redis").map((conf) => String(conf.zone ?? "default")));
  let failed = false;

  if (redisZones.size > 0) {
    const settings = config.redis as { url: string; keyPrefix?: string } | undefined;
    if (!settings) {
      process.stderr.write("portico cache purge: a proxyCache has store: redis but the config has no redis\n");
      return 1;
    }
    const redis = new Redis(settings.url, { keyPrefix: settings.keyPrefix ?? "portico:", lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await redis.connect();
      for (const zone of redisZones) {
        const purged = await new RedisCacheStore(zone, redis, pino({ level: "silent" })).purge(what);
        process.stdout.write(`zone ${zone} (redis): ${purged} key${purged === 1 ? "" : "s"} purged\n`);
      }
    } catch (error) {
      process.stderr.write(`portico cache purge: Redis failed: ${(error as Error).message}\n`);
      failed = true;
    } finally {
      redis.disconnect();
    }
  }

  if (memoryZones.size > 0) {
    const admin = adminSettings(config, baseDir);
    if (admin === null) {
      process.stderr.write(
        `portico cache purge: zone ${[...memoryZones].join(", ")} is a memory cache: it lives inside the running process. ` +
          "Give the config an admin listener (admin: { listen, allowWrites: true }) to purge it from here, or restart Portico.\n",
      );
      failed = true;
    } else {
      const host = admin.host === "0.0.0.0" ? "127.0.0.1" : admin.host.includes(":") ? `[${admin.host}]` : admin.host;
      for (const zone of memoryZones) {
        try {
          const response = await fetch(`http://${host}:${admin.port}/api/cache/purge`, {
            method: "POST",
            headers: { "content-type": "application/json", ...(admin.token ? { authorization: `Bearer ${admin.token}` } : {}) },
            body: JSON.stringify({ ...what, zone }),
          });
          const text = await response.text();
          if (!response.ok) throw new Error(`the admin API answered ${response.status}: ${text.trim()}`);
          const purged = (JSON.parse(text) as { result?: { purged?: number } }).result?.purged ?? 0;
          process.stdout.write(`zone ${zone} (memory): ${purged} key${purged === 1 ? "" : "s"} purged\n`);
        } catch (error) {
          process.stderr.write(`portico cache purge: zone ${zone} (memory): ${(error as Error).message}\n`);
          failed = true;
        }
      }
    }
  }
  return failed ? 1 : 0;
}
