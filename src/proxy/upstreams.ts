/**
 * Upstream connection pools and server choice. Pools belong to the gateway, not to one compiled
 * config: a reload that keeps an upstream keeps its warm keep-alive connections.
 */
import type { Socket } from "node:net";
import { buildConnector, errors, Pool } from "undici";

/**
 * undici measures its timeouts with "fast timers" that tick about every 500 ms: right for "60s",
 * but "200ms" would fire between 0.5 and 1 s. Below this, the proxy keeps the time itself.
 */
export const PRECISE_TIMEOUT_BELOW_MS = 1000;

/** undici's connector with the connect timeout on a native timer (nginx proxy_connect_timeout to the millisecond). */
function connectWithin(timeout: number): buildConnector.connector {
  const connect = buildConnector({ timeout: 0 });
  return function connectWithTimeout(options, callback) {
    let settled = false;
    // undici's connector returns the socket it opens (its type says void).
    const socket = connect(options, (error, connected) => {
      if (settled) {
        connected?.destroy();
        return;
      }
      settled = true;
      clearTimeout(timer);
      if (error) callback(error, null);
      else callback(null, connected as Socket);
    }) as unknown as Socket | undefined;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      socket?.destroy();
      callback(new errors.ConnectTimeoutError(`connect timeout (attempted address: ${options.hostname}:${options.port}, timeout: ${timeout}ms)`), null);
    }, timeout);
  };
}

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
      const precise = options.connectTimeout > 0 && options.connectTimeout < PRECISE_TIMEOUT_BELOW_MS;
      pool = new Pool(origin, {
        connections: options.connections,
        ...(precise ? { connect: connectWithin(options.connectTimeout) } : { connectTimeout: options.connectTimeout }),
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

/** Picks the server for the next request; `servers` lists them all, for trying the next one. */
export type Balancer = (() => UpstreamServer) & { readonly servers: readonly UpstreamServer[] };

/**
 * Smooth weighted round-robin, nginx's algorithm (ngx_http_upstream_get_peer): each pick adds
 * every weight to its server's running score, takes the highest, and subtracts the total from it.
 * Equal weights reduce to plain rotation.
 */
export function createBalancer(servers: readonly UpstreamServer[]): Balancer {
  const list = Object.freeze([...servers]);
  if (servers.length === 1) {
    const only = servers[0] as UpstreamServer;
    return Object.assign(
      function single() {
        return only;
      },
      { servers: list },
    );
  }
  if (servers.every((server) => server.weight === servers[0]?.weight)) {
    let next = 0;
    return Object.assign(
      function roundRobin() {
        const server = servers[next] as UpstreamServer;
        next = next + 1 === servers.length ? 0 : next + 1;
        return server;
      },
      { servers: list },
    );
  }
  const current = new Array<number>(servers.length).fill(0);
  const total = servers.reduce((sum, server) => sum + server.weight, 0);
  return Object.assign(
    function smoothWeighted() {
      let best = 0;
      for (let i = 0; i < servers.length; i++) {
        current[i] = (current[i] as number) + (servers[i] as UpstreamServer).weight;
        if ((current[i] as number) > (current[best] as number)) best = i;
      }
      current[best] = (current[best] as number) - total;
      return servers[best] as UpstreamServer;
    },
    { servers: list },
  );
}
