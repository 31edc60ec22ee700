/**
 * nginx `random two least_conn` ("power of two choices"): two servers drawn at random (by weight),
 * the one with fewer requests in flight (relative to its weight) wins. Nearly as good as
 * leastConn at spreading load, without a scan of every server.
 */
import { isAvailable } from "../health.js";
import type { BalancerMethod, UpstreamServer } from "./types.js";

export function random2(servers: readonly UpstreamServer[]): BalancerMethod {
  const list = Object.freeze([...servers]);
  const count = list.length;
  const cumulative: number[] = [];
  let total = 0;
  for (const server of list) {
    total += server.weight;
    cumulative.push(total);
  }
  const draw = (): UpstreamServer => {
    const x = Math.random() * total;
    let lo = 0;
    let hi = count - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((cumulative[mid] as number) > x) hi = mid;
      else lo = mid + 1;
    }
    return list[lo] as UpstreamServer;
  };
  const usable = (server: UpstreamServer, tried: ReadonlySet<UpstreamServer> | null) =>
    (server.state.blocked === 0 || isAvailable(server)) && (tried === null || !tried.has(server));
  return {
    servers: list,
    pick(tried) {
      if (count === 1) return usable(list[0] as UpstreamServer, tried) ? (list[0] as UpstreamServer) : null;
      let a = draw();
      let b = draw();
      // nginx draws again a few times when a choice is unusable or both are the same.
      for (let i = 0; i < 20 && (a === b || !usable(a, tried) || !usable(b, tried)); i++) {
        if (!usable(a, tried)) a = draw();
        else b = draw();
      }
      const okA = usable(a, tried);
      const okB = a !== b && usable(b, tried);
      if (okA && okB) return a.state.inFlight * b.weight <= b.state.inFlight * a.weight ? a : b;
      if (okA) return a;
      if (okB) return b;
      // Few servers left: take the least loaded usable one.
      let best: UpstreamServer | null = null;
      for (const server of list) {
        if (!usable(server, tried)) continue;
        if (best === null || server.state.inFlight * best.weight < best.state.inFlight * server.weight) best = server;
      }
      return best;
    },
  };
}
