/**
 * compile: validated config → Plan, the immutable thing a request walks. Everything that can be
 * decided before traffic is decided here, in small steps (one file each): listeners, upstream
 * groups, plugin instances, per location its phase chains and its answer, virtual hosts and TLS.
 * No request code: the lifecycle (src/lifecycle/) walks the plan.
 */
import type { Logger } from "pino";
import type { ConfigSource } from "../config/source.js";
import type { ValidatedConfig } from "../config/types.js";
import type { AnyPlugin } from "../lifecycle/plugin.js";
import type { RedisConnections } from "../state/redis.js";
import type { SharedState } from "../state/shared-state.js";
import { UpstreamRegistry } from "../upstream/health.js";
import type { PoolRegistry } from "../upstream/pools.js";
import { compileListen } from "./listen.js";
import type { LocationSummary, Plan } from "./plan.js";
import { byPriority, PluginInstances } from "./plugins.js";
import { Report } from "./report.js";
import { compileClientAddress, compileServerSettings } from "./server-settings.js";
import { tlsLimits } from "./tls.js";
import { type CompiledUpstream, compileUpstream } from "./upstream-groups.js";
import { compileHostMatchers, compileVirtualHost, defaultHost, type HostEntry, type VirtualHostContext } from "./virtual-hosts.js";

export interface CompileOptions {
  source: ConfigSource;
  plugins: readonly AnyPlugin[];
  pools: PoolRegistry;
  logger: Logger;
  /** Gateway-owned state kept across reloads; a throwaway one for `portico check`. */
  shared: SharedState;
  redis: RedisConnections;
  /** Gateway-owned upstream server states (health, breaker); a throwaway one when absent. */
  upstreams?: UpstreamRegistry;
  /** Binds a location for the access log and metrics (the Observer's); its result is LocationPlan.observe. Null: nothing observes. */
  bindLocation?: ((summary: LocationSummary) => unknown) | null;
}

/** Compiles a validated config; throws ConfigError PTC_ERR_CONFIG_INVALID listing every error (and the warnings), plugins closed. */
export async function compilePlan(config: ValidatedConfig, options: CompileOptions): Promise<Plan> {
  const { source, logger } = options;
  const report = new Report(source);
  const files = new Set<string>();
  const poolKeys = new Set<string>();
  const vars: Readonly<Record<string, unknown>> = config.vars ?? {};

  const listen = compileListen(config, report);
  const server = compileServerSettings(config);
  const clientAddress = compileClientAddress(config);

  // Upstream groups: NAME → servers, each with its pool; pools are per connect timeout, so built per location.
  const registry = options.upstreams ?? new UpstreamRegistry();
  const upstreamGroups = new Map<string, CompiledUpstream>();
  for (const [name, upstream] of Object.entries(config.upstreams ?? {})) {
    upstreamGroups.set(
      name,
      compileUpstream(name, upstream, registry, vars, (field, message) => report.error(field, message)),
    );
  }
  const usedUpstreams = new Set<string>();

  const instances = new PluginInstances(config, { source, logger, shared: options.shared, redis: options.redis, files }, report);
  const limits = tlsLimits(config);
  const summaries: LocationSummary[] = [];
  const context: VirtualHostContext = {
    hooks: { plugins: byPriority(options.plugins), instances, baseDir: source.baseDir, files, report },
    proxies: { upstreamGroups, usedUpstreams, pools: options.pools, poolKeys, baseDir: source.baseDir, files, logger, vars, report },
    report,
    logger,
    vars,
    bindLocation: options.bindLocation ?? null,
    summaries,
    baseDir: source.baseDir,
    files,
    tlsLimits: limits,
  };

  const fallback = defaultHost(config, report);
  const entries: HostEntry[] = [];
  for (const [name, vhost] of Object.entries(config.virtualHosts)) {
    const entry = await compileVirtualHost(config, name, vhost, name === fallback, context);
    if (entry) entries.push(entry);
  }
  for (const name of upstreamGroups.keys()) {
    if (!usedUpstreams.has(name)) report.warn(["upstreams", name], `upstream "${name}" is not used by any proxyPass`, "key");
  }

  const matchers = compileHostMatchers(config, entries, listen, limits, report);
  if (matchers === null || report.failed) {
    await instances.close();
    throw report.toError();
  }
  return {
    source,
    listen,
    server,
    warnings: report.sortedWarnings(),
    files,
    poolKeys,
    upstreams: new Map([...upstreamGroups].map(([name, group]) => [name, group.plan])),
    locations: summaries,
    ...matchers,
    clientAddress,
    logger,
    close: () => instances.close(),
  };
}
