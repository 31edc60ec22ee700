/**
 * `portico cache purge -c FILE (--key K | --prefix P) [--zone Z]`: Redis zones are purged straight
 * in the config's Redis; memory zones live inside the running process, so they are purged through
 * its admin API (`POST /api/cache/purge`) when the config has `admin`. The purging itself is the
 * proxyCache plugin's (src/plugins/proxy-cache/purge.ts); this is the command around it.
 */
import { adminSettings } from "../config/admin.js";
import { readConfigSource } from "../config/source.js";
import type { ValidatedConfig } from "../config/types.js";
import { validateConfig } from "../config/validate.js";
import { BUILTIN_PLUGINS } from "../plugins/index.js";
import { cacheZones, purgeRedisZones, purgeThroughAdmin } from "../plugins/proxy-cache/purge.js";
import type { PurgeTarget } from "../plugins/proxy-cache/stores/store.js";
import { printConfigError } from "./output.js";

const keys = (n: number) => `${n} key${n === 1 ? "" : "s"}`;

export async function cachePurge(file: string, target: { key?: string | undefined; prefix?: string | undefined; zone?: string | undefined }): Promise<number> {
  if ((target.key === undefined) === (target.prefix === undefined) || target.key === "" || target.prefix === "") {
    process.stderr.write("portico cache purge: give either --key KEY or --prefix PREFIX\n");
    return 2;
  }
  let config: ValidatedConfig;
  let baseDir: string;
  try {
    const source = await readConfigSource(file);
    config = validateConfig(source, BUILTIN_PLUGINS).config;
    baseDir = source.baseDir;
  } catch (error) {
    printConfigError(error, file);
    return 1;
  }
  const zones = cacheZones(config, target.zone);
  if (zones.redis.size === 0 && zones.memory.size === 0) {
    process.stderr.write(`portico cache purge: ${file} has no proxyCache${target.zone ? ` with zone ${target.zone}` : ""}\n`);
    return 1;
  }
  const what: PurgeTarget = target.key !== undefined ? { key: target.key } : { prefix: target.prefix as string };
  let failed = false;

  if (zones.redis.size > 0) {
    const settings = config.redis;
    if (!settings) {
      process.stderr.write("portico cache purge: a proxyCache has store: redis but the config has no redis\n");
      return 1;
    }
    try {
      await purgeRedisZones(settings, zones.redis, what, (zone, purged) => process.stdout.write(`zone ${zone} (redis): ${keys(purged)} purged\n`));
    } catch (error) {
      process.stderr.write(`portico cache purge: Redis failed: ${(error as Error).message}\n`);
      failed = true;
    }
  }

  if (zones.memory.size > 0) {
    const admin = adminSettings(config, baseDir);
    if (admin === null) {
      process.stderr.write(
        `portico cache purge: zone ${[...zones.memory].join(", ")} is a memory cache: it lives inside the running process. ` +
          "Give the config an admin listener (admin: { listen, allowWrites: true }) to purge it from here, or restart Portico.\n",
      );
      failed = true;
    } else {
      for (const zone of zones.memory) {
        try {
          process.stdout.write(`zone ${zone} (memory): ${keys(await purgeThroughAdmin(admin, zone, what))} purged\n`);
        } catch (error) {
          process.stderr.write(`portico cache purge: zone ${zone} (memory): ${(error as Error).message}\n`);
          failed = true;
        }
      }
    }
  }
  return failed ? 1 : 0;
}
