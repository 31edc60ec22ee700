/**
 * A location's proxyPass: its servers (an `upstreams` group or the host itself) with their pools,
 * the headers sent upstream, timeouts, retries and upstream TLS, as one ProxyRoute.
 */
import type { Logger } from "pino";
import type { FieldPath } from "../config/source.js";
import { parseTime } from "../config/units.js";
import { closest } from "../config/validate.js";
import { compileTemplate, type Template } from "../http/variables.js";
import { createBalancer, type PoolRegistry, type UpstreamServer } from "../upstream/pools.js";
import { type ProxyPassSpec, parseProxyPass } from "../upstream/proxy-pass.js";
import type { ProxyRoute } from "../upstream/route.js";
import type { FinishHeaders } from "./finish-headers.js";
import { inherited, type LocationScope, nearest, nearestField } from "./location-scope.js";
import type { Report } from "./report.js";
import { templateMessage } from "./template-message.js";
import { loadUpstreamTls, type UpstreamTls } from "./tls.js";
import { type CompiledUpstream, compileNextUpstream, singlePeer } from "./upstream-groups.js";

/** NixOS recommendedProxySettings, in the order its generated config sets them. */
const RECOMMENDED_HEADERS: ReadonlyArray<readonly [string, string]> = [
  ["Host", "$host"],
  ["X-Real-IP", "$remote_addr"],
  ["X-Forwarded-For", "$proxy_add_x_forwarded_for"],
  ["X-Forwarded-Proto", "$scheme"],
  ["X-Forwarded-Host", "$host"],
  ["X-Forwarded-Server", "$hostname"],
];

/** What every proxy of one compile shares. */
export interface ProxyContext {
  upstreamGroups: ReadonlyMap<string, CompiledUpstream>;
  /** Groups some proxyPass names (the others get a warning). */
  usedUpstreams: Set<string>;
  pools: PoolRegistry;
  poolKeys: Set<string>;
  baseDir: string;
  files: Set<string>;
  logger: Logger;
  vars: Readonly<Record<string, unknown>>;
  report: Report;
}

/** How the location matched, for the URI replacement and its checks. */
export interface ProxyLocation {
  isRegex: boolean;
  modifier: string;
  pattern: string;
  /** What proxyPass's URI replaces: the whole matched prefix (or exact path); 0 for a regex. */
  prefixLength: number;
  bodyLimit: number;
  finishHeaders: FinishHeaders;
}

/** The route of a location with proxyPass; null when it cannot be built (reported). */
export async function compileLocationProxy(scope: LocationScope, where: ProxyLocation, c: ProxyContext): Promise<ProxyRoute | null> {
  const proxyPass = scope.loc.proxyPass as string;
  const upstreamTls = /^\s*https:\/\//i.test(proxyPass)
    ? await loadUpstreamTls(
        (key) => nearest(scope, key),
        (key) => nearestField(scope, key),
        c.baseDir,
        c.files,
        c.report,
      )
    : null;
  const { loc, vhost, config } = scope;
  return compileProxy(scope, where, c, {
    upstreamTls,
    recommended: inherited(scope, "recommendedProxySettings") === true,
    connectTimeout: parseTime(inherited(scope, "proxyConnectTimeout")),
    readTimeout: parseTime(inherited(scope, "proxyReadTimeout")),
    sendTimeout: parseTime(inherited(scope, "proxySendTimeout")),
    nextUpstream: compileNextUpstream(
      loc.proxyNextUpstream ?? vhost.proxyNextUpstream ?? config.proxyNextUpstream,
      loc.proxyNextUpstreamTries ?? vhost.proxyNextUpstreamTries ?? config.proxyNextUpstreamTries,
      loc.proxyNextUpstreamTimeout ?? vhost.proxyNextUpstreamTimeout ?? config.proxyNextUpstreamTimeout,
    ),
  });
}

interface ProxyOptions {
  upstreamTls: UpstreamTls | null;
  recommended: boolean;
  connectTimeout: number;
  readTimeout: number;
  sendTimeout: number;
  nextUpstream: ProxyRoute["nextUpstream"];
}

function compileProxy(scope: LocationScope, where: ProxyLocation, c: ProxyContext, o: ProxyOptions): ProxyRoute | null {
  const { loc, field } = scope;
  const proxyField = [...field, "proxyPass"];
  let spec: ProxyPassSpec;
  try {
    spec = parseProxyPass(loc.proxyPass as string);
  } catch (err) {
    c.report.error(proxyField, (err as Error).message);
    return null;
  }
  if (spec.uri !== null && where.isRegex) {
    // nginx: "proxy_pass" cannot have URI part in location given by regular expression.
    c.report.error(proxyField, `a regex location cannot pass a URI part ("${spec.uri}"): nginx refuses it too; drop the path from proxyPass`);
    return null;
  }
  if (spec.uri?.endsWith("/") && !where.isRegex && where.modifier !== "=" && !where.pattern.endsWith("/")) {
    c.report.warn(
      proxyField,
      `"${where.pattern}/x" goes upstream as "${spec.uri}/x" (nginx does the same: the location prefix is replaced by "${spec.uri}"); write the location as "${where.pattern}/" or proxyPass without the trailing slash`,
    );
  }

  // Servers: an upstreams entry by that name, or the host itself.
  const group = !spec.explicitPort ? c.upstreamGroups.get(spec.host) : undefined;
  const peers = group ? group.plan.peers : [singlePeer(`${spec.host.includes(":") && !spec.host.startsWith("[") ? `[${spec.host}]` : spec.host}:${spec.port}`)];
  if (group) c.usedUpstreams.add(spec.host);
  else if (!spec.explicitPort && !/[.:[]/.test(spec.host) && spec.host !== "localhost") {
    // "http://backend/" reads as an upstream's name; when there is none, it is a host name on port 80.
    const guess = closest(spec.host, c.upstreamGroups.keys());
    c.report.warn(
      proxyField,
      `no upstream is named "${spec.host}", so it is looked up as a host name on port ${spec.port}${guess ? `: did you mean the upstream "${guess}"?` : ""}`,
    );
  }
  const servers: UpstreamServer[] = peers.map((peer) => {
    const address = peer.address;
    const origin = `${spec.scheme}://${/:\d+$/.test(address) ? address : `${address}:${spec.scheme === "https" ? 443 : 80}`}`;
    const { key, pool } = c.pools.get(origin, { connectTimeout: o.connectTimeout, connections: group?.keepalive ?? null, tls: o.upstreamTls });
    c.poolKeys.add(key);
    return { ...peer, origin, pool };
  });

  const { setHeaders, replacedHeaders, needsVars } = compileSetHeaders(scope, o.recommended, c);
  // The hash key's variables are built with the headers' (one VariableSource per request).
  const hashNeedsVars = group?.hashKey != null && group.hashKey !== "consumer" && !group.hashKey.isConstant;
  return {
    spec,
    pick: createBalancer(servers, group?.loadBalancing),
    hashKey: group?.hashKey ?? null,
    nextUpstream: o.nextUpstream,
    prefixLength: where.prefixLength,
    setHeaders,
    replacedHeaders,
    setHeadersNeedVars: hashNeedsVars || needsVars,
    headersTimeout: o.readTimeout,
    bodyTimeout: o.readTimeout,
    sendTimeout: o.sendTimeout,
    connectTimeout: o.connectTimeout,
    tls: o.upstreamTls?.options ?? null,
    bodyLimit: where.bodyLimit,
    logger: c.logger,
    finishHeaders: where.finishHeaders,
  };
}

/** recommendedProxySettings, then proxySetHeader (the later of two with one name wins), as templates. */
function compileSetHeaders(
  scope: LocationScope,
  recommended: boolean,
  c: ProxyContext,
): { setHeaders: Array<readonly [string, Template]>; replacedHeaders: Set<string>; needsVars: boolean } {
  const { loc, field } = scope;
  const byName = new Map<string, readonly [string, string, FieldPath]>();
  if (recommended) for (const [name, value] of RECOMMENDED_HEADERS) byName.set(name.toLowerCase(), [name, value, [...field, "recommendedProxySettings"]]);
  for (const [name, value] of Object.entries(loc.proxySetHeader ?? {})) byName.set(name.toLowerCase(), [name, value, [...field, "proxySetHeader", name]]);
  const setHeaders: Array<readonly [string, Template]> = [];
  let needsVars = false;
  for (const [name, value, where] of byName.values()) {
    try {
      const template = compileTemplate(value, c.vars);
      if (!template.isConstant) needsVars = true;
      setHeaders.push([name, template]);
    } catch (err) {
      c.report.error(where, templateMessage(err, c.vars));
    }
  }
  return { setHeaders, replacedHeaders: new Set(byName.keys()), needsVars };
}
