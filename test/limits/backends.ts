/**
 * The two stores every limit plugin has, for one shared suite per plugin (as hono runs every
 * router through one suite): "memory" (no redis in the config) and "redis" (a real redis-server
 * started for the test, named by the config's top-level redis).
 */
import type { TestContext } from "node:test";
import type { PorticoConfig } from "../../src/config/schema.js";
import { startRedis } from "../helpers/redis.js";

export interface Backend {
  name: "memory" | "redis";
  /** The top-level config that selects this store. */
  top(t: TestContext): Promise<Omit<PorticoConfig, "virtualHosts">>;
}

export const BACKENDS: readonly Backend[] = [
  { name: "memory", top: async () => ({}) },
  {
    name: "redis",
    top: async (t) => {
      const redis = await startRedis(t);
      return { redis: { url: redis.url } };
    },
  },
];

/** Fires `n` requests at once and returns their statuses, sorted. */
export async function burst(n: number, send: (i: number) => Promise<{ status: number }>): Promise<number[]> {
  const results = await Promise.all(Array.from({ length: n }, (_, i) => send(i)));
  return results.map((r) => r.status).sort((a, b) => a - b);
}

export function countOf(statuses: readonly number[], status: number): number {
  return statuses.filter((s) => s === status).length;
}
