/**
 * Round-robin, nginx's default. Equal weights: plain rotation. Weights: nginx's smooth weighted
 * round-robin (ngx_http_upstream_get_peer): each pick adds every weight to its server's running
 * score, takes the highest, and subtracts the total from it, so a 3:1 split reads a a b a, never
 * a a a b. Unavailable and already tried servers are skipped, as nginx does.
 */
import { isAvailable } from "../health.js";
import type { BalancerMethod, UpstreamServer } from "./types.js";

export function roundRobin(servers: readonly UpstreamServer[]): BalancerMethod {
  const list = Object.freeze([...servers]);
  const count = list.length;
  if (count === 1) {
    const only = list[0] as UpstreamServer;
    return {
      servers: list,
      pick: (tried) => ((only.state.blocked === 0 || isAvailable(only)) && (tried === null || !tried.has(only)) ? only : null),
    };
  }
  if (list.every((server) => server.weight === list[0]?.weight)) {
    let next = 0;
    return {
      servers: list,
      pick(tried) {
        for (let i = 0; i < count; i++) {
          const server = list[next] as UpstreamServer;
          next = next + 1 === count ? 0 : next + 1;
          if ((server.state.blocked === 0 || isAvailable(server)) && (tried === null || !tried.has(server))) return server;
        }
        return null;
      },
    };
  }
  const current = new Array<number>(count).fill(0);
  return {
    servers: list,
    pick(tried) {
      let best = -1;
      let total = 0;
      for (let i = 0; i < count; i++) {
        const server = list[i] as UpstreamServer;
        if (!(server.state.blocked === 0 || isAvailable(server)) || tried?.has(server)) continue;
        current[i] = (current[i] as number) + server.weight;
        total += server.weight;
        if (best === -1 || (current[i] as number) > (current[best] as number)) best = i;
      }
      if (best === -1) return null;
      current[best] = (current[best] as number) - total;
      return list[best] as UpstreamServer;
    },
  };
}
