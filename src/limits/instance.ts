/**
 * Which counters a plugin config owns. Each place the config sets a limit has its own counters
 * (two locations with the same `limitCount` do not share), and the same place keeps them across a
 * reload while its config is unchanged. The id is a hash of the config and of how many identical
 * configs came before it in this load, so that two instances with one config file (and one Redis)
 * name the same Redis keys.
 */
import { createHash } from "node:crypto";
import type { Redis } from "ioredis";
import { parseTime } from "../config/units.js";
import type { PluginEnv } from "../lifecycle/plugin.js";
import { whenReady } from "./redis-script.js";

const seen = new WeakMap<object, Map<string, number>>();

export function instanceId(plugin: string, conf: unknown, env: PluginEnv): string {
  const json = JSON.stringify(conf, (_key, value: unknown) => (typeof value === "function" ? `fn:${String(value)}` : value));
  let counts = seen.get(env.config);
  if (!counts) {
    counts = new Map();
    seen.set(env.config, counts);
  }
  const occurrence = counts.get(json) ?? 0;
  counts.set(json, occurrence + 1);
  return createHash("sha256").update(`${plugin}\u0000${json}\u0000${occurrence}`).digest("base64url").slice(0, 16);
}

/**
 * The Redis client this plugin's counters go to, or null for memory: `policy`, else whether the
 * config has a top-level redis. Waits up to the redis timeout for a first connection.
 */
export async function redisFor(policy: "local" | "redis" | undefined, env: PluginEnv): Promise<Redis | null> {
  const settings = env.config.redis as { timeout?: string | number } | undefined | null;
  if (policy === "redis" && !settings) throw new Error('policy "redis" needs a top-level redis: { url }');
  if (policy === "local" || !settings) return null;
  const client = env.redis() as Redis;
  await whenReady(client, settings.timeout === undefined ? 1000 : parseTime(settings.timeout));
  return client;
}
