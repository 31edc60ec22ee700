/**
 * `upstreams.NAME` (servers, loadBalancing, hashKey, passive and active health, breaker) and a
 * location's proxyNextUpstream* options, compiled into what the upstream layer uses per request.
 */
import type { FieldPath } from "../config/source.js";
import type { ValidatedUpstream } from "../config/types.js";
import { parseTime } from "../config/units.js";
import { compileTemplate, type Template } from "../http/variables.js";
import type { BreakerOptions } from "../upstream/circuit-breaker.js";
import { type HealthCheckOptions, PeerState, type UpstreamPeer, type UpstreamPlan, type UpstreamRegistry } from "../upstream/health.js";
import type { LoadBalancing } from "../upstream/pools.js";
import type { NextUpstream } from "../upstream/route.js";

export const UPSTREAM_DEFAULTS = {
  maxFails: 1,
  failTimeout: "10s",
  healthCheck: { path: "/", interval: "5s", timeout: "1s", healthyThreshold: 2, unhealthyThreshold: 3 },
  circuitBreaker: { failures: 5, errorRatio: 0, minRequests: 20, window: "10s", openTimeout: "30s" },
} as const;

/** A compiled `upstreams` entry. */
export interface CompiledUpstream {
  plan: UpstreamPlan;
  keepalive: number | null;
  loadBalancing: LoadBalancing;
  /** hash: a template, or "consumer"; null for the other methods. */
  hashKey: Template | "consumer" | null;
}

type ServerOptions = Exclude<ValidatedUpstream["servers"], string[]>[string];

const ADDRESS = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/;

export function compileUpstream(
  name: string,
  upstream: ValidatedUpstream,
  registry: UpstreamRegistry,
  vars: Readonly<Record<string, unknown>>,
  error: (field: FieldPath, message: string) => void,
): CompiledUpstream {
  const listed = Array.isArray(upstream.servers);
  const entries: Array<[string, ServerOptions]> = Array.isArray(upstream.servers)
    ? upstream.servers.map((address) => [address, {}])
    : Object.entries(upstream.servers);
  const groupMaxFails: number = upstream.maxFails ?? UPSTREAM_DEFAULTS.maxFails;
  const groupFailTimeout = parseTime(upstream.failTimeout ?? UPSTREAM_DEFAULTS.failTimeout);
  const cb = upstream.circuitBreaker;
  const breaker: BreakerOptions | null = cb
    ? {
        failures: cb.failures ?? UPSTREAM_DEFAULTS.circuitBreaker.failures,
        errorRatio: cb.errorRatio ?? UPSTREAM_DEFAULTS.circuitBreaker.errorRatio,
        minRequests: cb.minRequests ?? UPSTREAM_DEFAULTS.circuitBreaker.minRequests,
        window: parseTime(cb.window ?? UPSTREAM_DEFAULTS.circuitBreaker.window),
        openTimeout: parseTime(cb.openTimeout ?? UPSTREAM_DEFAULTS.circuitBreaker.openTimeout),
      }
    : null;
  // nginx: a group of one server never marks it down on failures (there is nowhere else to go).
  const single = entries.length === 1;
  const peers: UpstreamPeer[] = [];
  entries.forEach(([address, opts], index) => {
    const field = ["upstreams", name, "servers", listed ? index : address];
    if (!ADDRESS.test(address)) {
      error(field, `expected "host:port", got ${JSON.stringify(address)}`);
      return;
    }
    peers.push({
      address,
      weight: opts.weight ?? 1,
      backup: opts.backup === true,
      down: opts.down === true,
      options: {
        maxFails: single ? 0 : (opts.maxFails ?? groupMaxFails),
        failTimeout: opts.failTimeout !== undefined ? parseTime(opts.failTimeout) : groupFailTimeout,
        breaker,
      },
      state: registry.state(name, address),
    });
  });
  if (peers.length > 0 && peers.every((peer) => peer.down || peer.backup)) {
    error(["upstreams", name, "servers"], "every server is down or backup: at least one must take traffic");
  }

  const loadBalancing: LoadBalancing = upstream.loadBalancing ?? "roundRobin";
  let hashKey: Template | "consumer" | null = null;
  if (loadBalancing === "hash") {
    if (upstream.hashKey === undefined) error(["upstreams", name, "loadBalancing"], 'loadBalancing "hash" needs a hashKey, such as "$remote_addr"');
    else if (upstream.hashKey === "consumer") hashKey = "consumer";
    else {
      try {
        hashKey = compileTemplate(upstream.hashKey, vars);
      } catch (err) {
        error(["upstreams", name, "hashKey"], (err as Error).message);
      }
    }
    if (peers.some((peer) => peer.backup))
      error(["upstreams", name, "servers"], "backup servers cannot be used with hash load balancing (nginx refuses it too)");
  } else if (upstream.hashKey !== undefined) {
    error(["upstreams", name, "hashKey"], 'hashKey is only used with loadBalancing: "hash"');
  }

  const hc = upstream.healthCheck;
  const healthCheck: HealthCheckOptions | null = hc
    ? {
        path: hc.path ?? UPSTREAM_DEFAULTS.healthCheck.path,
        interval: Math.max(1, parseTime(hc.interval ?? UPSTREAM_DEFAULTS.healthCheck.interval)),
        timeout: Math.max(1, parseTime(hc.timeout ?? UPSTREAM_DEFAULTS.healthCheck.timeout)),
        healthyThreshold: hc.healthyThreshold ?? UPSTREAM_DEFAULTS.healthCheck.healthyThreshold,
        unhealthyThreshold: hc.unhealthyThreshold ?? UPSTREAM_DEFAULTS.healthCheck.unhealthyThreshold,
        expectStatus: hc.expectStatus ?? null,
        https: hc.scheme === "https",
      }
    : null;

  return {
    plan: { name, loadBalancing, peers, healthCheck },
    keepalive: upstream.keepalive ?? null,
    loadBalancing,
    hashKey,
  };
}

/** A proxyPass to a plain host: one server, no passive health (nginx: a single peer is never marked down). */
export function singlePeer(address: string): UpstreamPeer {
  return {
    address,
    weight: 1,
    backup: false,
    down: false,
    options: { maxFails: 0, failTimeout: 0, breaker: null },
    state: new PeerState("", address),
  };
}

export const DEFAULT_NEXT_UPSTREAM = "error timeout";

export function compileNextUpstream(
  value: string | readonly string[] | undefined,
  tries: number | undefined,
  timeout: string | number | undefined,
): NextUpstream {
  const tokens = new Set(
    (Array.isArray(value) ? value : [value ?? DEFAULT_NEXT_UPSTREAM]).flatMap((item: string) => item.trim().split(/\s+/)).filter((token) => token !== ""),
  );
  const statuses = new Set<number>();
  for (const token of tokens) if (token.startsWith("http_")) statuses.add(Number(token.slice(5)));
  return {
    error: tokens.has("error"),
    timeout: tokens.has("timeout"),
    nonIdempotent: tokens.has("non_idempotent"),
    statuses,
    tries: tries ?? 0,
    timeLimit: timeout === undefined ? 0 : parseTime(timeout),
  };
}
