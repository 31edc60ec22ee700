/**
 * Consistent hashing (nginx `hash $key consistent`, ketama): each server owns 160 × weight points
 * on a ring of 32-bit hashes (MD5 of "address-N", four points per digest); a key goes to the
 * owner of the first point at or after the key's hash. Adding a server takes over only the arcs
 * before its own points, about 1/N of the keys; removing one moves only the keys it had.
 * An unavailable or already tried server hands its keys to the next server on the ring.
 */
import { createHash } from "node:crypto";
import { isAvailable } from "../health.js";
import type { BalancerMethod, UpstreamServer } from "./types.js";

const POINTS_PER_WEIGHT = 160;

/** 32-bit hash of a key: the first four bytes of its MD5 (the same family as the ring's points). */
export function hashKey(key: string): number {
  return createHash("md5").update(key).digest().readUInt32LE(0);
}

export interface Ring {
  points: Uint32Array;
  owners: Uint16Array;
}

export function buildRing(servers: readonly UpstreamServer[]): Ring {
  const entries: Array<[number, number]> = [];
  servers.forEach((server, index) => {
    const digests = Math.ceil((POINTS_PER_WEIGHT * server.weight) / 4);
    for (let n = 0; n < digests; n++) {
      const digest = createHash("md5").update(`${server.address}-${n}`).digest();
      for (let k = 0; k < 4; k++) entries.push([digest.readUInt32LE(k * 4), index]);
    }
  });
  // Ties are broken by address order, so that the ring does not depend on the order of the list.
  entries.sort((x, y) => x[0] - y[0] || ((servers[x[1]] as UpstreamServer).address < (servers[y[1]] as UpstreamServer).address ? -1 : 1));
  return { points: Uint32Array.from(entries, (e) => e[0]), owners: Uint16Array.from(entries, (e) => e[1]) };
}

/** Index of the first point >= hash (wrapping to 0). */
function firstPoint(points: Uint32Array, hash: number): number {
  let lo = 0;
  let hi = points.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((points[mid] as number) < hash) lo = mid + 1;
    else hi = mid;
  }
  return lo === points.length ? 0 : lo;
}

export function consistentHash(servers: readonly UpstreamServer[], fallback: BalancerMethod): BalancerMethod {
  const list = Object.freeze([...servers]);
  const ring = buildRing(list);
  const { points, owners } = ring;
  return {
    servers: list,
    pick(tried, key) {
      // No key (an empty variable, no consumer yet): round-robin, as nginx falls back to it.
      if (key === "") return fallback.pick(tried, key);
      let at = firstPoint(points, hashKey(key));
      const owner = list[owners[at] as number] as UpstreamServer;
      if ((owner.state.blocked === 0 || isAvailable(owner)) && (tried === null || !tried.has(owner))) return owner;
      const seen = new Set<number>();
      for (let n = 0; n < points.length && seen.size < list.length; n++) {
        const index = owners[at] as number;
        if (!seen.has(index)) {
          seen.add(index);
          const server = list[index] as UpstreamServer;
          if ((server.state.blocked === 0 || isAvailable(server)) && (tried === null || !tried.has(server))) return server;
        }
        at = at + 1 === points.length ? 0 : at + 1;
      }
      return null;
    },
  };
}
