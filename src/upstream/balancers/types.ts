/**
 * The types the balancers share with the pools (pools.ts builds a Balancer from these methods):
 * kept apart so that a balancer imports its types without importing pools.ts, which imports it.
 */
import type { Pool } from "undici";
import type { UpstreamPeer } from "../health.js";

/** A server of a location: the group's peer (shared state) with the pool this location uses. */
export interface UpstreamServer extends UpstreamPeer {
  origin: string;
  pool: Pool;
}

/** One load-balancing method over a list of servers. */
export interface BalancerMethod {
  /** Every server it may pick. */
  readonly servers: readonly UpstreamServer[];
  /** `tried`: servers this request already tried; `key`: the hash key ("" for the other methods). */
  pick(tried: ReadonlySet<UpstreamServer> | null, key: string): UpstreamServer | null;
}

/**
 * Picks the server of the next attempt (`tried` left out, `key` for hash); null when none is
 * available (nginx "no live upstreams"). `servers` lists every server it may pick.
 */
export type Balancer = ((tried?: ReadonlySet<UpstreamServer> | null, key?: string) => UpstreamServer | null) & {
  readonly servers: readonly UpstreamServer[];
};

export type LoadBalancing = "roundRobin" | "leastConn" | "random2" | "hash";
