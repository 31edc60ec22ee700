/**
 * Upstream connection pools and server choice. Pools belong to the gateway, not to one compiled
 * config: a reload that keeps an upstream keeps its warm keep-alive connections.
 */
import { Pool } from "undici";

export interface PoolOptions {
  connectTimeout: number;
  /** Most connections to this origin; null = no limit. */
  connections: number | null;
}

export class PoolRegistry {
  #pools = new Map<string, Pool>();

  /** One pool per origin and connection options, reused across reloads. */
  get(origin: string, options: PoolOptions): { key: string; pool: Pool } {
    const key = `${origin}|${options.connectTimeout}|${options.connections ?? ""}`;
    let pool = this.#pools.get(key);
    if (!pool) {
      pool = new Pool(origin, {
        connections: options.connections,
        connectTimeout: options.connectTimeout,
        // nginx keeps idle upstream connections for 60s (keepalive_timeout); undici's default is 4s.
        keepAliveTimeout: 60_000,
        keepAliveMaxTimeout: 600_000,
        pipelining: 1,
      });
      this.#pools.set(key, pool);
    }
    return { key, pool };
  }

  /** After a reload: close pools the new config no longer uses (in-flight requests finish first). */
  async retainOnly(used: ReadonlySet<string>): Promise<void> {
    const closing: Promise<void>[] = [];
    for (const [key, pool] of this.#pools) {
      if (used.has(key)) continue;
      this.#pools.delete(key);
      closing.push(pool.close().catch(() => undefined));
    }
    await Promise.all(closing);
  }

  async closeAll(): Promise<void> {
    await this.retainOnly(new Set());
  }

  get size(): number {
    return this.#pools.size;
  }
}

export interface UpstreamServer {
  /** "host:port" as written in the config. */
  address: string;
  origin: string;
  pool: Pool;
  weight: number;
}

/**
 * Smooth weighted round-robin, nginx's algorithm (ngx_http_upstream_get_peer): each pick adds
 * every weight to its server's running score, takes the highest, and subtracts the total from it.
 * Equal weights reduce to plain rotation.
 */
export function createBalancer(servers: readonly UpstreamServer[]): () => UpstreamServer {
  if (servers.length === 1) {
    const only = servers[0] as UpstreamServer;
    return () => only;
  }
  if (servers.every((server) => server.weight === servers[0]?.weight)) {
    let next = 0;
    return () => {
      const server = servers[next] as UpstreamServer;
      next = next + 1 === servers.length ? 0 : next + 1;
      return server;
    };
  }
  const current = new Array<number>(servers.length).fill(0);
  const total = servers.reduce((sum, server) => sum + server.weight, 0);
  return () => {
    let best = 0;
    for (let i = 0; i < servers.length; i++) {
      current[i] = (current[i] as number) + (servers[i] as UpstreamServer).weight;
      if ((current[i] as number) > (current[best] as number)) best = i;
    }
    current[best] = (current[best] as number) - total;
    return servers[best] as UpstreamServer;
  };
}
