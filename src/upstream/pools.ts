/**
 * Upstream connection pools and server choice. Pools belong to the gateway, not to one compiled
 * config: a reload that keeps an upstream keeps its warm keep-alive connections.
 */
import type { Socket } from "node:net";
import type { ConnectionOptions } from "node:tls";
import { buildConnector, errors, Pool } from "undici";
import { consistentHash } from "./balancers/hash.js";
import { leastConn } from "./balancers/least-conn.js";
import { random2 } from "./balancers/random2.js";
import { roundRobin } from "./balancers/round-robin.js";
import type { Balancer, BalancerMethod, LoadBalancing, UpstreamServer } from "./balancers/types.js";

export type { Balancer, BalancerMethod, LoadBalancing, UpstreamServer } from "./balancers/types.js";

/**
 * undici measures its timeouts with "fast timers" that tick about every 500 ms: right for "60s",
 * but "200ms" would fire between 0.5 and 1 s. Below this, the proxy keeps the time itself.
 */
export const PRECISE_TIMEOUT_BELOW_MS = 1000;

/** undici's connector with the connect timeout on a native timer (nginx proxy_connect_timeout to the millisecond). */
function connectWithin(timeout: number, tls: ConnectionOptions | undefined): buildConnector.connector {
  const connect = buildConnector({ timeout: 0, ...(tls as buildConnector.BuildOptions | undefined) });
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
  /** TLS options of an https:// origin (verification, CA, SNI, client certificate), with an id for the key. */
  tls?: { options: ConnectionOptions; id: string } | null;
}

export class PoolRegistry {
  #pools = new Map<string, Pool>();

  /** One pool per origin and connection options, reused across reloads. */
  get(origin: string, options: PoolOptions): { key: string; pool: Pool } {
    const key = `${origin}|${options.connectTimeout}|${options.connections ?? ""}${options.tls ? `|${options.tls.id}` : ""}`;
    let pool = this.#pools.get(key);
    if (!pool) {
      const precise = options.connectTimeout > 0 && options.connectTimeout < PRECISE_TIMEOUT_BELOW_MS;
      pool = new Pool(origin, {
        connections: options.connections,
        ...(precise
          ? { connect: connectWithin(options.connectTimeout, options.tls?.options) }
          : { connectTimeout: options.connectTimeout, ...(options.tls ? { connect: options.tls.options as buildConnector.BuildOptions } : {}) }),
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

function methodOf(servers: readonly UpstreamServer[], method: LoadBalancing): BalancerMethod {
  if (method === "leastConn") return leastConn(servers);
  if (method === "random2") return random2(servers);
  if (method === "hash") return consistentHash(servers, roundRobin(servers));
  return roundRobin(servers);
}

/**
 * The balancer of a location: the method over the group's servers (those marked down left out),
 * then, when none of them is available, round-robin over the backup servers (nginx backup).
 */
export function createBalancer(servers: readonly UpstreamServer[], method: LoadBalancing = "roundRobin"): Balancer {
  const primary = servers.filter((server) => !server.down && !server.backup);
  const backups = servers.filter((server) => !server.down && server.backup);
  const all = Object.freeze([...primary, ...backups]);
  const main = primary.length > 0 ? methodOf(primary, method) : null;
  const spare = backups.length > 0 ? roundRobin(backups) : null;
  let pick: (tried?: ReadonlySet<UpstreamServer> | null, key?: string) => UpstreamServer | null;
  if (main !== null && spare === null) pick = (tried = null, key = "") => main.pick(tried, key);
  else if (main !== null && spare !== null) pick = (tried = null, key = "") => main.pick(tried, key) ?? spare.pick(tried, key);
  else if (spare !== null) pick = (tried = null, key = "") => spare.pick(tried, key);
  else pick = () => null;
  return Object.assign(pick, { servers: all });
}
