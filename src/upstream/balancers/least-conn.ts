/**
 * nginx least_conn: the available server with the fewest requests in flight relative to its
 * weight (inFlight / weight, compared without division); ties go round-robin, so that idle
 * servers share the load evenly. In-flight counts are per server and shared by every location
 * that uses the group (one increment and one decrement per attempt).
 */
import { isAvailable } from "../health.js";
import type { BalancerMethod, UpstreamServer } from "./types.js";

export function leastConn(servers: readonly UpstreamServer[]): BalancerMethod {
  const list = Object.freeze([...servers]);
  const count = list.length;
  let start = 0;
  return {
    servers: list,
    pick(tried) {
      let best: UpstreamServer | null = null;
      const from = start;
      start = start + 1 === count ? 0 : start + 1;
      for (let n = 0; n < count; n++) {
        const i = from + n < count ? from + n : from + n - count;
        const server = list[i] as UpstreamServer;
        if (!(server.state.blocked === 0 || isAvailable(server)) || tried?.has(server)) continue;
        if (best === null || server.state.inFlight * best.weight < best.state.inFlight * server.weight) best = server;
      }
      return best;
    },
  };
}
