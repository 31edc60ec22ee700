/**
 * compile: validated config → RouteTable, the immutable thing a request walks. Everything that
 * can be decided before traffic is decided here: location order, regexes, header lists, the
 * plugin chain of each location, its upstream pools, and which handler a location gets (a
 * plain proxy or `return` location skips the phase engine entirely).
 */

import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { type IncomingMessage, type OutgoingHttpHeaders, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import path from "node:path";
import type { Duplex } from "node:stream";
import { type ConnectionOptions, createSecureContext, type SecureContext, type SecureVersion, type TLSSocket } from "node:tls";
import type { Logger } from "pino";
import type { ConfigSource, FieldPath } from "./config/source.js";
import { formatPath } from "./config/source.js";
import { parseHeaderBuffers, parseSize, parseTime } from "./config/units.js";
import { closest } from "./config/validate.js";
import { ConfigError, type ConfigIssue } from "./errors.js";
import { toHeaderList } from "./http/header-list.js";
import { rawHeader } from "./http/hop-headers.js";
import { nextRequestId, SERVER_NAME, sendError, statusPage } from "./http/respond.js";
import { compileTemplate, redirectBase, type Template, TemplateError, VARIABLE_NAMES, type VariableSource } from "./http/variables.js";
import type { HookFunction, Phase } from "./lifecycle/context.js";
import { HookLoadError, loadHook } from "./lifecycle/hooks.js";
import type { AnyPlugin, PluginEnv } from "./lifecycle/plugin.js";
import { type CompiledHook, type PhaseChains, type PhasedLocation, type ReturnRenderer, runPhases } from "./lifecycle/run-phases.js";
import type { Observer } from "./observability/index.js";
import { type ClientAddress, createClientAddress } from "./router/client-address.js";
import { createLocationMatcher, type LocationMatcher, parseLocationKey } from "./router/locations.js";
import { normalizePath } from "./router/normalize-path.js";
import { createHostMatcher, type HostMatcher, normalizeHost } from "./router/virtual-hosts.js";
import type { RedisConnections } from "./state/redis.js";
import type { SharedState } from "./state/shared-state.js";
import { forward, type ProxyRoute, type RequestTarget } from "./upstream/forward.js";
import { type CompiledUpstream, compileNextUpstream, compileUpstream, type NextUpstream, singlePeer } from "./upstream/group-config.js";
import { type UpstreamPlan, UpstreamRegistry } from "./upstream/health.js";
import { createBalancer, type PoolRegistry, type UpstreamServer } from "./upstream/pools.js";
import { type ProxyPassSpec, parseProxyPass, upstreamPath } from "./upstream/proxy-pass.js";
import { tunnel } from "./upstream/tunnel.js";

// biome-ignore lint/suspicious/noExplicitAny: the validated config's shape depends on the plugin set
type Validated = Record<string, any>;

const DEFAULTS = {
  defaultType: "application/octet-stream",
  clientMaxBodySize: "1m",
  proxyConnectTimeout: "60s",
  proxyReadTimeout: "60s",
  proxySendTimeout: "60s",
  largeClientHeaderBuffers: "4 8k",
  keepaliveTimeout: "75s",
  clientHeaderTimeout: "60s",
  shutdownTimeout: "10s",
} as const;

const HOOK_PHASES: readonly Phase[] = ["rewrite", "preaccess", "access", "content", "headerFilter", "bodyFilter", "log"];

/** nginx add_header applies to these statuses unless the value ends in " always". */
const ADD_HEADER_STATUSES = new Set([200, 201, 204, 206, 301, 302, 303, 304, 307, 308]);
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

export interface ListenAddress {
  host: string | undefined;
  port: number;
  /** A TLS listener (`{ addr, port, ssl: true }`). */
  ssl: boolean;
}

/** What the TLS listeners of a config need: certificates by server name, protocol limits. */
export interface TlsSettings {
  /** The certificate for an SNI name: exact, wildcard, regex, then the default TLS virtual host's (vhost matching rules). */
  contextFor(serverName: string): SecureContext;
  /** The default TLS virtual host's certificate and key, for clients that send no SNI (setSecureContext options). */
  defaultOptions: { cert: Buffer; key: Buffer; minVersion: SecureVersion; maxVersion: SecureVersion; ciphers?: string };
  /** Offer h2 by ALPN: as nginx's listen http2, on when any TLS virtual host wants it. */
  http2: boolean;
}

/** Upgrade requests (WebSocket) after the server handed over the socket. */
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

export interface ServerSettings {
  logLevel: string | undefined;
  maxHeaderSize: number;
  keepAliveTimeout: number;
  headersTimeout: number;
  shutdownTimeout: number;
}

/** What `portico routes` and the dashboard show of a location. */
export interface LocationSummary {
  virtualHost: string;
  key: string;
  handler: "proxy" | "return" | "content";
  proxyPass?: string;
  return?: string;
  hooks: string[];
  plugins: string[];
  /** "fast path": no phase engine on this location. */
  fastPath: boolean;
}

export interface CompiledLocation {
  summary: LocationSummary;
  /** The proxy of this location, if it proxies (also read by `portico routes`). */
  proxy: ProxyRoute | null;
  /** clientMaxBodySize in bytes (0 = none): checked against Content-Length for every handler, as nginx does. */
  bodyLimit: number;
  handle: (req: IncomingMessage, res: ServerResponse, target: RequestTarget, captures: readonly string[] | null) => void;
  /** proxyWebsockets: opens the tunnel (after rewrite and access); null: an upgrade is served as a plain request. */
  upgrade:
    | ((req: IncomingMessage, res: ServerResponse, socket: Duplex, head: Buffer, target: RequestTarget, captures: readonly string[] | null) => void)
    | null;
}

interface CompiledVirtualHost {
  name: string;
  names: string[];
  locations: LocationMatcher<CompiledLocation>;
  /** On a plain listener: answer 301 to https://$host$request_uri (NixOS forceSSL). */
  forceSSL: boolean;
}

export interface RouteExplanation {
  virtualHost: string;
  virtualHostReason: string;
  path: string | null;
  location: LocationSummary | null;
  redirectTo?: string;
  reason: string;
  steps: string[];
  upstreamUrl?: string;
  status?: number;
}

export interface RouteTable {
  source: ConfigSource;
  listen: ListenAddress[];
  server: ServerSettings;
  warnings: ConfigIssue[];
  /** Files the config depends on (hook modules), for reload-on-change. */
  files: Set<string>;
  /** Pool keys in use, so that a reload can close the others. */
  poolKeys: Set<string>;
  /** The `upstreams` groups of this config, for health checks and status. */
  upstreams: ReadonlyMap<string, UpstreamPlan>;
  locations: LocationSummary[];
  handle(req: IncomingMessage, res: ServerResponse): void;
  /** Requests on TLS listeners (HTTP/1.1 and HTTP/2): the virtual hosts with onlySSL, addSSL or forceSSL. */
  handleTls(req: IncomingMessage, res: ServerResponse): void;
  /** Upgrade requests (WebSocket), on plain and TLS listeners. */
  handleUpgrade: UpgradeHandler;
  /** Certificates and settings of the TLS listeners; null when the config has no TLS virtual host. */
  tls: TlsSettings | null;
  /** The client address of a request: the socket's peer, or what a trusted proxy says (trustedProxies). */
  clientAddress(req: IncomingMessage): string;
  explain(method: string, url: string, host?: string): RouteExplanation;
  /** Plugin instances to close when this table is retired. */
  close(): Promise<void>;
}

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
  /** Access log, metrics, tracing: when set, handlers are wrapped to feed it (null: nothing extra per request). */
  observer?: Observer | null;
}

function parseListen(entry: unknown): ListenAddress | string {
  if (typeof entry === "number") return { host: undefined, port: entry, ssl: false };
  if (typeof entry === "object" && entry !== null) {
    const { addr, port, ssl } = entry as { addr?: string; port: number; ssl?: boolean };
    return { host: addr && addr !== "*" ? addr.replace(/^\[(.*)\]$/, "$1") : undefined, port, ssl: ssl === true };
  }
  const text = String(entry).trim();
  const match = /^(?:(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+|\*):)?(\d{1,5})$/.exec(text);
  if (!match) return `expected a port, "host:port" or "[::1]:port", got ${JSON.stringify(text)}`;
  const port = Number(match[2]);
  if (port > 65535) return `port ${port} is out of range (0-65535)`;
  const host = match[1] === undefined || match[1] === "*" ? undefined : match[1].replace(/^\[(.*)\]$/, "$1");
  return { host, port, ssl: false };
}

/** nginx `return`: "CODE [TEXT|URL]", "URL" (302) or a bare code. */
function parseReturn(value: string | number): { status: number; text: string | null } | string {
  if (typeof value === "number") return value >= 100 && value <= 999 ? { status: value, text: null } : `status ${value} is not a 3-digit code`;
  const trimmed = value.trim();
  if (/^(https?:\/\/|\$scheme)/.test(trimmed)) return { status: 302, text: trimmed };
  const match = /^(\d{3})(?:\s+([\s\S]*))?$/.exec(trimmed);
  if (!match) return `expected "CODE", "CODE TEXT" or "CODE URL" such as "200 'Hello'" or "301 https://$host$request_uri", got ${JSON.stringify(value)}`;
  let text = match[2] ?? null;
  // nginx strips one level of quotes: return 200 'Hello World!';
  if (text && /^(['"])[\s\S]*\1$/.test(text) && text.length >= 2) text = text.slice(1, -1);
  return { status: Number(match[1]), text };
}

/** A template's error, with the variable that was probably meant when one is close. */
function templateMessage(err: unknown, vars: Readonly<Record<string, unknown>>): string {
  const message = err instanceof Error ? err.message : String(err);
  const unknown = /^unknown variable "\$([A-Za-z0-9_]+)"/.exec(message);
  if (!unknown || !(err instanceof TemplateError)) return message;
  const guess = closest(unknown[1] as string, [...VARIABLE_NAMES, ...Object.keys(vars)]);
  return guess ? `unknown variable "$${unknown[1]}": did you mean "$${guess}"?` : message;
}

export async function compileRouteTable(config: Validated, options: CompileOptions): Promise<RouteTable> {
  const { source, plugins, pools, logger, shared, redis } = options;
  const upstreamRegistry = options.upstreams ?? new UpstreamRegistry();
  const issues: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [];
  const files = new Set<string>();
  const poolKeys = new Set<string>();
  const report = (list: ConfigIssue[], severity: "error" | "warning", field: FieldPath, message: string, at: "key" | "value" = "value") =>
    list.push({ file: source.file, ...source.locate(field, at), path: formatPath(field), message, severity });
  const error = (field: FieldPath, message: string, at: "key" | "value" = "value") => report(issues, "error", field, message, at);
  const warn = (field: FieldPath, message: string, at: "key" | "value" = "value") => report(warnings, "warning", field, message, at);

  const vars: Record<string, unknown> = config.vars ?? {};

  // listen
  const listen: ListenAddress[] = [];
  const listenValue = config.listen ?? 8080;
  const listenEntries = Array.isArray(listenValue) ? listenValue : [listenValue];
  listenEntries.forEach((entry: unknown, index: number) => {
    const parsed = parseListen(entry);
    if (typeof parsed === "string") error(Array.isArray(listenValue) ? ["listen", index] : ["listen"], parsed);
    else listen.push(parsed);
  });

  const server: ServerSettings = {
    logLevel: config.logLevel,
    maxHeaderSize: parseHeaderBuffers(config.largeClientHeaderBuffers ?? DEFAULTS.largeClientHeaderBuffers),
    keepAliveTimeout: parseTime(config.keepaliveTimeout ?? DEFAULTS.keepaliveTimeout),
    headersTimeout: parseTime(config.clientHeaderTimeout ?? DEFAULTS.clientHeaderTimeout),
    shutdownTimeout: parseTime(config.shutdownTimeout ?? DEFAULTS.shutdownTimeout),
  };
  // nginx realip: validated CIDRs, compiled once; without trustedProxies, the socket's peer.
  const clientAddress = createClientAddress({
    trustedProxies: config.trustedProxies,
    realIpHeader: config.realIpHeader,
    realIpRecursive: config.realIpRecursive,
  });

  // Upstream groups: NAME → servers, each with its pool; pools are per connect timeout, so built lazily per location.
  const upstreamGroups = new Map<string, CompiledUpstream>();
  for (const [name, upstream] of Object.entries<Validated>(config.upstreams ?? {})) {
    upstreamGroups.set(name, compileUpstream(name, upstream, upstreamRegistry, vars, error));
  }
  const usedUpstreams = new Set<string>();

  // Plugin instances: one init per distinct config object, shared by the locations that inherit it.
  const pluginInstances = new Map<object, { plugin: AnyPlugin; instance: unknown }>();
  const envFor = (plugin: AnyPlugin): PluginEnv => ({
    logger: logger.child({ plugin: plugin.name }),
    configDir: source.baseDir,
    config,
    redis: () =>
      config.redis
        ? redis.get({ url: config.redis.url, keyPrefix: config.redis.keyPrefix, timeout: config.redis.timeout && parseTime(config.redis.timeout) })
        : null,
    keep: (id, create) => shared.take(`${plugin.name}:${id}`, create),
    readFile: (file) => {
      const absolute = path.resolve(source.baseDir, file);
      files.add(absolute);
      return readFile(absolute);
    },
  });
  const initPlugin = async (plugin: AnyPlugin, conf: unknown, field: FieldPath): Promise<unknown> => {
    const key = conf as object;
    if (pluginInstances.has(key)) return pluginInstances.get(key)?.instance;
    try {
      const state = plugin.init ? await plugin.init(conf, envFor(plugin)) : conf;
      pluginInstances.set(key, { plugin, instance: state });
      return state;
    } catch (err) {
      error(field, `plugin ${plugin.name} refused its config: ${(err as Error).message}`);
      return undefined;
    }
  };
  const sortedPlugins = [...plugins].sort((a, b) => b.priority - a.priority);

  const hostEntries: HostEntry[] = [];
  const tlsVersions: SecureVersion[] = [...(config.sslProtocols ?? DEFAULT_SSL_PROTOCOLS)].sort() as SecureVersion[];
  const tlsLimits = {
    minVersion: tlsVersions[0] as SecureVersion,
    maxVersion: tlsVersions[tlsVersions.length - 1] as SecureVersion,
    ...(config.sslCiphers ? { ciphers: config.sslCiphers as string } : {}),
  };
  const allSummaries: LocationSummary[] = [];

  // nginx: "a duplicate default server"; reported at the second one, naming the first.
  let defaultHost: string | undefined;
  const defaults = new Set<string>();
  for (const [vhostName, vhost] of Object.entries<Validated>(config.virtualHosts)) {
    if (vhost.default !== true) continue;
    if (defaultHost === undefined) {
      defaultHost = vhostName;
      defaults.add(vhostName);
    } else {
      error(["virtualHosts", vhostName, "default"], `virtual hosts "${defaultHost}" and "${vhostName}" are both the default: keep default: true on one`);
    }
  }

  for (const [vhostName, vhost] of Object.entries<Validated>(config.virtualHosts)) {
    const vhostField = ["virtualHosts", vhostName];
    // nginx's "duplicate location": one exact and one prefix ("" or "^~") per path; a repeated regex is never reached.
    const claimed = new Map<string, string>();
    const inherit = <K extends keyof typeof DEFAULTS | "recommendedProxySettings">(loc: Validated, key: K) =>
      loc[key] ?? vhost[key] ?? config[key] ?? (DEFAULTS as Record<string, unknown>)[key];
    const entries: Array<{ key: string; data: CompiledLocation; autoRedirect: boolean }> = [];

    for (const [locationKey, loc] of Object.entries<Validated>(vhost.locations ?? {})) {
      const field = [...vhostField, "locations", locationKey];
      let parsedKey: ReturnType<typeof parseLocationKey>;
      try {
        parsedKey = parseLocationKey(locationKey);
      } catch (err) {
        error(field, (err as Error).message, "key");
        continue;
      }
      const isRegex = parsedKey.modifier === "~" || parsedKey.modifier === "~*";
      const claim = isRegex ? `${parsedKey.modifier} ${parsedKey.pattern}` : `${parsedKey.modifier === "=" ? "=" : "prefix"} ${parsedKey.pattern}`;
      const earlier = claimed.get(claim);
      if (earlier !== undefined) {
        const line = source.locate([...vhostField, "locations", earlier]).line;
        const where = line > 0 ? ` (line ${line})` : "";
        if (isRegex) {
          warn(field, `the regex location "${locationKey}" repeats "${earlier}"${where}, which is tried first: this one never matches`, "key");
        } else {
          const what = parsedKey.modifier === "=" ? `the exact location "${parsedKey.pattern}"` : `the prefix "${parsedKey.pattern}"`;
          error(field, `duplicate location: "${locationKey}" and "${earlier}"${where} are both ${what}; keep one`, "key");
        }
        continue;
      }
      claimed.set(claim, locationKey);
      // What proxyPass's URI replaces: the whole matched prefix (or exact path); nothing for a regex.
      const prefixLength = isRegex ? 0 : parsedKey.pattern.length;

      // Hooks and plugins of this location.
      const hooks: Partial<Record<Phase, CompiledHook>> = {};
      const hookSources: string[] = [];
      for (const phase of HOOK_PHASES) {
        const spec = loc[phase] as string | HookFunction | undefined;
        if (spec === undefined) continue;
        try {
          const { fn, label } = await loadHook(spec, source.baseDir, files);
          hooks[phase] = { label: `location ${JSON.stringify(locationKey)} ${phase} (${label})`, run: fn };
          hookSources.push(`${phase}: ${label}`);
        } catch (err) {
          error([...field, phase], err instanceof HookLoadError ? err.message : String(err));
        }
      }
      const chains: PhaseChains = { rewrite: [], preaccess: [], access: [], content: [], headerFilter: [], bodyFilter: [], log: [] };
      const pluginNames: string[] = [];
      for (const plugin of sortedPlugins) {
        const conf = loc[plugin.name] ?? vhost[plugin.name] ?? config[plugin.name];
        if (conf === undefined || conf === false) continue;
        const pluginField =
          loc[plugin.name] !== undefined ? [...field, plugin.name] : vhost[plugin.name] !== undefined ? [...vhostField, plugin.name] : [plugin.name];
        const state = await initPlugin(plugin, conf, pluginField);
        pluginNames.push(plugin.name);
        for (const phase of HOOK_PHASES) {
          const hook = plugin[phase];
          if (hook) chains[phase].push({ label: `plugin ${plugin.name}`, run: (ctx) => hook(ctx, state) });
        }
      }
      // The location's own hooks come last in each phase: LOCATION_HOOK_PRIORITY (0) is below every plugin's.
      for (const phase of HOOK_PHASES) if (hooks[phase]) chains[phase].push(hooks[phase] as CompiledHook);

      // Exactly one way to answer.
      const answers = ["return", "content", "proxyPass"].filter((name) => loc[name] !== undefined);
      const pluginContent = chains.content.length > 0 && !hooks.content;
      if (answers.length > 1) {
        error(field, `a location answers in one way: it has ${answers.join(" and ")}; keep one`, "key");
        continue;
      }
      if (answers.length === 0 && !pluginContent) {
        error(field, "this location does not answer: give it return, content or proxyPass", "key");
        continue;
      }

      const defaultType: string = inherit(loc, "defaultType");
      const bodyLimit = parseSize(inherit(loc, "clientMaxBodySize"));
      const finishHeaders = compileFinishHeaders(loc.addHeader, [...field, "addHeader"], vars, error);

      // proxyPass
      let proxy: ProxyRoute | null = null;
      if (loc.proxyPass !== undefined) {
        const upstreamTls = /^\s*https:\/\//i.test(loc.proxyPass as string)
          ? await loadUpstreamTls(
              (key) => loc[key] ?? vhost[key] ?? config[key],
              (key) => (loc[key] !== undefined ? [...field, key] : vhost[key] !== undefined ? [...vhostField, key] : [key]),
              source.baseDir,
              files,
              error,
            )
          : null;
        proxy = compileProxy(loc, field, {
          upstreamTls,
          isRegex,
          prefixLength,
          locationKey,
          pattern: parsedKey.pattern,
          modifier: parsedKey.modifier,
          upstreamGroups,
          usedUpstreams,
          pools,
          poolKeys,
          logger,
          vars,
          bodyLimit,
          finishHeaders,
          recommended: inherit(loc, "recommendedProxySettings") === true,
          connectTimeout: parseTime(inherit(loc, "proxyConnectTimeout")),
          readTimeout: parseTime(inherit(loc, "proxyReadTimeout")),
          sendTimeout: parseTime(inherit(loc, "proxySendTimeout")),
          nextUpstream: compileNextUpstream(
            loc.proxyNextUpstream ?? vhost.proxyNextUpstream ?? config.proxyNextUpstream,
            loc.proxyNextUpstreamTries ?? vhost.proxyNextUpstreamTries ?? config.proxyNextUpstreamTries,
            loc.proxyNextUpstreamTimeout ?? vhost.proxyNextUpstreamTimeout ?? config.proxyNextUpstreamTimeout,
          ),
          error,
          warn,
        });
        if (!proxy) continue;
      } else if (loc.proxySetHeader !== undefined || loc.recommendedProxySettings !== undefined) {
        warn([...field, loc.proxySetHeader !== undefined ? "proxySetHeader" : "recommendedProxySettings"], "has no effect without proxyPass");
      }

      // return
      let render: ReturnRenderer | null = null;
      let returnNeedsVars = false;
      if (loc.return !== undefined) {
        const parsed = parseReturn(loc.return);
        if (typeof parsed === "string") {
          error([...field, "return"], parsed);
          continue;
        }
        try {
          const compiled = compileReturn(parsed.status, parsed.text, defaultType, vars);
          render = compiled.render;
          returnNeedsVars = compiled.needsVars;
        } catch (err) {
          error([...field, "return"], templateMessage(err, vars));
          continue;
        }
      }

      const hookLabels = hookSources;
      const hasPhases = HOOK_PHASES.some((phase) => chains[phase].length > 0);
      const summary: LocationSummary = {
        virtualHost: vhostName,
        key: locationKey,
        handler: proxy ? "proxy" : render ? "return" : "content",
        ...(loc.proxyPass !== undefined ? { proxyPass: loc.proxyPass as string } : {}),
        ...(loc.return !== undefined ? { return: String(loc.return) } : {}),
        hooks: hookLabels,
        plugins: pluginNames,
        fastPath: !hasPhases,
      };
      allSummaries.push(summary);

      const variables = (req: IncomingMessage, target: RequestTarget, captures: readonly string[] | null, requestId: string): VariableSource => ({
        req,
        path: target.path,
        rawQuery: target.rawQuery,
        host: normalizeHost(rawHeader(req.rawHeaders, "host") ?? rawHeader(req.rawHeaders, ":authority")) || vhost.serverName || vhostName,
        serverName: vhost.serverName ?? vhostName,
        scheme: (req.socket as TLSSocket | undefined)?.encrypted === true ? "https" : "http",
        ip: clientAddress(req),
        captures,
        proxyHost: proxy?.spec.proxyHost ?? "",
        requestId,
      });

      const phased: PhasedLocation | null = hasPhases
        ? {
            chains,
            proxy,
            render,
            defaultType,
            bodyLimit,
            vars,
            location: { key: locationKey, captures: null },
            virtualHost: { name: vhostName },
            logger,
            finishHeaders,
            variables,
            clientAddress,
          }
        : null;
      let handle: CompiledLocation["handle"];
      if (!hasPhases && proxy) {
        // The shortest path there is: straight into the proxy.
        const route = proxy;
        handle = route.setHeadersNeedVars
          ? (req, res, target, captures) => forward(req, res, route, target, null, variables(req, target, captures, nextRequestId()))
          : (req, res, target) => forward(req, res, route, target, null, null);
      } else if (!hasPhases && render) {
        const renderReturn = render;
        const constant = returnNeedsVars ? null : renderReturn(null);
        if (constant?.status === 444) {
          // nginx's "return 444": close the connection without an answer.
          handle = (_req, res) => void res.destroy();
        } else if (constant) {
          const constantList = finishedList(constant.status, constant.headers, finishHeaders);
          // A string body lets Node send head and body in one write (a Buffer costs a writev).
          const constantBody = constant.body.toString("utf8");
          handle = (_req, res) => {
            res.writeHead(constant.status, constantList);
            res.end(constantBody);
          };
        } else {
          handle = (req, res, target, captures) => {
            const out = renderReturn(variables(req, target, captures, nextRequestId()));
            res.writeHead(out.status, finishedList(out.status, out.headers, finishHeaders));
            res.end(out.body);
          };
        }
      } else {
        const engine = phased as PhasedLocation;
        handle = (req, res, target, captures) => {
          void runPhases(engine, req, res, target, captures);
        };
      }
      if (options.observer) handle = options.observer.wrapLocation(summary, handle);
      // NixOS proxyWebsockets: the upgrade goes through rewrite and access (auth), then the tunnel.
      let upgrade: CompiledLocation["upgrade"] = null;
      if (loc.proxyWebsockets === true && !proxy) {
        warn([...field, "proxyWebsockets"], "has no effect without proxyPass");
      } else if (loc.proxyWebsockets === true && proxy) {
        const route = proxy;
        const engine = phased;
        upgrade = engine
          ? (req, res, socket, head, target, captures) => {
              void runPhases(engine, req, res, target, captures, (ctx) =>
                tunnel(req, res, socket, head, route, target, ctx, route.setHeadersNeedVars ? variables(req, target, captures, ctx.requestId) : null),
              );
            }
          : (req, res, socket, head, target, captures) =>
              tunnel(req, res, socket, head, route, target, null, route.setHeadersNeedVars ? variables(req, target, captures, nextRequestId()) : null);
      }
      const compiled: CompiledLocation = { summary, proxy, bodyLimit, handle, upgrade };
      entries.push({
        key: locationKey,
        data: compiled,
        // nginx: any non-regex location ending in "/" served by proxy_pass answers "/x" with a 301 to "/x/".
        autoRedirect: proxy !== null && !isRegex && parsedKey.pattern.endsWith("/"),
      });
    }

    let locations: LocationMatcher<CompiledLocation>;
    try {
      locations = createLocationMatcher(entries);
    } catch (err) {
      error([...vhostField, "locations"], (err as Error).message, "key");
      continue;
    }
    const names = [vhost.serverName ?? vhostName, ...(vhost.serverAliases ?? [])];
    const tls = await loadVirtualHostTls(vhost, vhostField, source.baseDir, files, tlsLimits, error, warn);
    hostEntries.push({
      names,
      isDefault: defaults.has(vhostName),
      label: vhostName,
      data: { name: vhostName, names, locations, forceSSL: false },
      tlsMode: tls.mode,
      certificate: tls.certificate,
      http2: vhost.http2 !== false,
    });
  }

  for (const name of upstreamGroups.keys()) {
    if (!usedUpstreams.has(name)) warn(["upstreams", name], `upstream "${name}" is not used by any proxyPass`, "key");
  }

  let hosts: HostMatcher<CompiledVirtualHost> | null = null;
  if (hostEntries.length === 0 && issues.length === 0) error(["virtualHosts"], "define at least one virtual host with a location", "key");
  else if (hostEntries.length > 0) {
    try {
      hosts = createHostMatcher(hostEntries);
    } catch (err) {
      // The matcher numbers hosts ("host #2"); name them, and point at the server name it is about.
      const message = (err as Error).message;
      const nameOf = (index: string) => hostEntries[Number(index) - 1]?.data.name ?? `#${index}`;
      const about = /server name "((?:[^"\\]|\\.)*)" of host #(\d+)/.exec(message);
      let field: FieldPath = ["virtualHosts"];
      if (about) {
        const vhostName = nameOf(about[2] as string);
        const vhost = config.virtualHosts[vhostName] as Validated | undefined;
        const aliasIndex = (vhost?.serverAliases as string[] | undefined)?.indexOf(about[1] as string) ?? -1;
        field =
          aliasIndex >= 0
            ? ["virtualHosts", vhostName, "serverAliases", aliasIndex]
            : vhost?.serverName !== undefined
              ? ["virtualHosts", vhostName, "serverName"]
              : ["virtualHosts", vhostName];
      }
      error(
        field,
        message.replace(/\bhost #(\d+)/g, (_m, index: string) => `virtual host "${nameOf(index)}"`),
        field.length === 2 ? "key" : "value",
      );
    }
  }
  // TLS listeners serve the onlySSL/addSSL/forceSSL virtual hosts; plain ones the others, forceSSL redirecting.
  let plainHosts = hosts;
  let tlsHosts: HostMatcher<CompiledVirtualHost> | null = null;
  let tlsSettings: TlsSettings | null = null;
  const tlsEntries = hostEntries.filter((entry) => entry.tlsMode !== "none");
  const plainEntries = hostEntries
    .filter((entry) => entry.tlsMode !== "only")
    .map((entry) => (entry.tlsMode === "force" ? { ...entry, data: { ...entry.data, forceSSL: true } } : entry));
  const listenField = (address: ListenAddress): FieldPath => (Array.isArray(config.listen) ? ["listen", listen.indexOf(address)] : ["listen"]);
  const tlsListener = listen.find((address) => address.ssl);
  const plainListener = listen.find((address) => !address.ssl);
  if (tlsEntries.length > 0 && !tlsListener) {
    const first = tlsEntries[0] as HostEntry;
    error(
      ["virtualHosts", first.label, first.tlsMode === "only" ? "onlySSL" : first.tlsMode === "add" ? "addSSL" : "forceSSL"],
      'no TLS listener serves it: add { addr: "0.0.0.0", port: 443, ssl: true } to listen',
    );
  }
  if (tlsListener && tlsEntries.length === 0 && hostEntries.length > 0) {
    error(listenField(tlsListener), "this TLS listener has no virtual host to serve: give one onlySSL, addSSL or forceSSL and its sslCertificate");
  }
  if (plainListener && plainEntries.length === 0 && hostEntries.length > 0) {
    error(listenField(plainListener), "this plain listener has no virtual host to serve: every virtual host is onlySSL (use addSSL or forceSSL, or ssl: true)");
  }
  if (hosts && issues.length === 0 && tlsEntries.length > 0) {
    if (plainEntries.length > 0) plainHosts = createHostMatcher(plainEntries);
    tlsHosts = createHostMatcher(tlsEntries);
    const certificates = createHostMatcher(tlsEntries.map((entry) => ({ ...entry, data: entry.certificate as VirtualHostCertificate })));
    const fallback = certificates.match("").data;
    tlsSettings = {
      contextFor: (serverName) => certificates.match(normalizeHost(serverName) || "").data.context,
      defaultOptions: { cert: fallback.cert, key: fallback.key, ...tlsLimits },
      http2: tlsEntries.some((entry) => entry.http2),
    };
  }
  if (issues.length > 0 || !hosts || !plainHosts) {
    await closePlugins(pluginInstances);
    throw new ConfigError(
      "PTC_ERR_CONFIG_INVALID",
      [...issues, ...warnings].sort((a, b) => a.line - b.line || a.column - b.column),
    );
  }

  warnings.sort((a, b) => a.line - b.line || a.column - b.column);
  return createTable({
    source,
    listen,
    server,
    warnings,
    files,
    poolKeys,
    upstreams: new Map([...upstreamGroups].map(([name, group]) => [name, group.plan])),
    locations: allSummaries,
    hosts,
    plainHosts,
    tlsHosts,
    tls: tlsSettings,
    logger,
    clientAddress,
    observer: options.observer ?? null,
    close: () => closePlugins(pluginInstances),
  });
}

const DEFAULT_SSL_PROTOCOLS = ["TLSv1.2", "TLSv1.3"];

interface VirtualHostCertificate {
  cert: Buffer;
  key: Buffer;
  context: SecureContext;
}

interface HostEntry {
  names: string[];
  isDefault: boolean;
  label: string;
  data: CompiledVirtualHost;
  /** NixOS onlySSL / addSSL / forceSSL, or none: plain listeners only. */
  tlsMode: "none" | "only" | "add" | "force";
  certificate: VirtualHostCertificate | null;
  http2: boolean;
}

/**
 * A virtual host's TLS: its mode and certificate, read now (and again at each reload: the files
 * become reload triggers). The key is a secret: messages name the file, never its content.
 */
async function loadVirtualHostTls(
  vhost: Validated,
  field: FieldPath,
  baseDir: string,
  files: Set<string>,
  limits: { minVersion: SecureVersion; maxVersion: SecureVersion; ciphers?: string },
  error: (field: FieldPath, message: string, at?: "key" | "value") => void,
  warn: (field: FieldPath, message: string, at?: "key" | "value") => void,
): Promise<{ mode: HostEntry["tlsMode"]; certificate: VirtualHostCertificate | null }> {
  const flags = (["onlySSL", "addSSL", "forceSSL"] as const).filter((flag) => vhost[flag] === true);
  if (flags.length > 1) {
    error([...field, flags[1] as string], `${flags.join(" and ")} exclude each other (NixOS): keep one`);
    return { mode: "none", certificate: null };
  }
  const flag = flags[0];
  if (flag === undefined) {
    for (const key of ["sslCertificate", "sslCertificateKey", "http2"]) {
      if (vhost[key] !== undefined) warn([...field, key], "has no effect without onlySSL, addSSL or forceSSL");
    }
    return { mode: "none", certificate: null };
  }
  const mode = flag === "onlySSL" ? "only" : flag === "addSSL" ? "add" : "force";
  if (vhost.sslCertificate === undefined || vhost.sslCertificateKey === undefined) {
    error([...field, flag], `${flag} needs sslCertificate and sslCertificateKey (PEM files)`);
    return { mode, certificate: null };
  }
  const read = async (key: "sslCertificate" | "sslCertificateKey"): Promise<Buffer | null> => {
    const absolute = path.resolve(baseDir, vhost[key] as string);
    files.add(absolute);
    try {
      return await readFile(absolute);
    } catch (err) {
      error([...field, key], `cannot read ${absolute}: ${(err as NodeJS.ErrnoException).code ?? "unreadable"}`);
      return null;
    }
  };
  const cert = await read("sslCertificate");
  const key = await read("sslCertificateKey");
  if (!cert || !key) return { mode, certificate: null };
  try {
    return { mode, certificate: { cert, key, context: createSecureContext({ cert, key, ...limits }) } };
  } catch (err) {
    // OpenSSL's reason ("key values mismatch", "no start line") names no key material.
    error([...field, "sslCertificateKey"], `the certificate and key do not load together: ${(err as Error).message}`);
    return { mode, certificate: null };
  }
}

/** The upstream TLS options of a location (proxySsl*, inherited like nginx's), and an id for the pool key. */
async function loadUpstreamTls(
  value: (key: string) => unknown,
  where: (key: string) => FieldPath,
  baseDir: string,
  files: Set<string>,
  error: (field: FieldPath, message: string) => void,
): Promise<UpstreamTls> {
  const options: ConnectionOptions = { rejectUnauthorized: value("proxySslVerify") !== false };
  const id = [`verify=${options.rejectUnauthorized}`];
  const serverName = value("proxySslServerName") as string | undefined;
  if (serverName !== undefined) {
    options.servername = serverName;
    id.push(`sni=${serverName}`);
  }
  for (const [key, option] of [
    ["proxySslTrustedCertificate", "ca"],
    ["proxySslCertificate", "cert"],
    ["proxySslCertificateKey", "key"],
  ] as const) {
    const file = value(key) as string | undefined;
    if (file === undefined) continue;
    const absolute = path.resolve(baseDir, file);
    files.add(absolute);
    try {
      const content = await readFile(absolute);
      options[option] = content;
      id.push(`${option}=${createHash("sha256").update(content).digest("hex").slice(0, 16)}`);
    } catch (err) {
      error(where(key), `cannot read ${absolute}: ${(err as NodeJS.ErrnoException).code ?? "unreadable"}`);
    }
  }
  if ((value("proxySslCertificate") === undefined) !== (value("proxySslCertificateKey") === undefined)) {
    error(
      where(value("proxySslCertificate") === undefined ? "proxySslCertificateKey" : "proxySslCertificate"),
      "proxySslCertificate and proxySslCertificateKey go together",
    );
  }
  return { options, id: id.join(";") };
}

export interface UpstreamTls {
  options: ConnectionOptions;
  /** Identifies the options in the pool key, without the secrets themselves. */
  id: string;
}

async function closePlugins(instances: Map<object, { plugin: AnyPlugin; instance: unknown }>): Promise<void> {
  await Promise.all([...instances.values()].map(({ plugin, instance }) => plugin.close?.(instance)));
}

/** Server and addHeader, appended to a response's header list by status. */
function compileFinishHeaders(
  addHeader: Record<string, string> | undefined,
  field: FieldPath,
  vars: Readonly<Record<string, unknown>>,
  error: (field: FieldPath, message: string) => void,
): (status: number, headers: string[]) => void {
  const plain: string[] = [];
  const always: string[] = [];
  for (const [name, raw] of Object.entries(addHeader ?? {})) {
    const isAlways = /\s+always$/.test(raw);
    const value = isAlways ? raw.replace(/\s+always$/, "") : raw;
    try {
      const template = compileTemplate(value, vars);
      if (!template.isConstant) {
        error([...field, name], "variables in addHeader values are not supported yet: use a headerFilter hook");
        continue;
      }
      (isAlways ? always : plain).push(name, template(null as unknown as VariableSource));
    } catch (err) {
      error([...field, name], templateMessage(err, vars));
    }
  }
  if (plain.length === 0 && always.length === 0) {
    return (_status, headers) => {
      headers.push("Server", SERVER_NAME);
    };
  }
  return (status, headers) => {
    headers.push("Server", SERVER_NAME);
    if (ADD_HEADER_STATUSES.has(status)) for (const item of plain) headers.push(item);
    for (const item of always) headers.push(item);
  };
}

function finishedList(status: number, headers: OutgoingHttpHeaders, finish: (status: number, headers: string[]) => void): string[] {
  const list = toHeaderList(headers);
  finish(status, list);
  return list;
}

function compileReturn(
  status: number,
  text: string | null,
  defaultType: string,
  vars: Readonly<Record<string, unknown>>,
): { render: ReturnRenderer; needsVars: boolean } {
  const template: Template | null = text === null ? null : compileTemplate(text, vars);
  if (REDIRECT_STATUSES.has(status)) {
    if (!template) throw new Error(`return ${status} needs a URL: "${status} https://example.com$request_uri"`);
    const body = Buffer.from(statusPage(status));
    const headers = (location: string): OutgoingHttpHeaders => ({ "Content-Type": "text/html", "Content-Length": String(body.length), Location: location });
    if (template.text.startsWith("/")) {
      // A relative target is made absolute, as nginx's absolute_redirect does by default.
      return {
        render: (source) => {
          const s = source as VariableSource;
          return { status, headers: headers(redirectBase(s.scheme, s.host, s.req) + template(s)), body };
        },
        needsVars: true,
      };
    }
    return { render: (source) => ({ status, headers: headers(template(source as VariableSource)), body }), needsVars: !template.isConstant };
  }
  if (!template) {
    const body = status >= 300 && status !== 304 ? Buffer.from(statusPage(status)) : Buffer.alloc(0);
    // RFC 9110 8.6: a 204 (or 304) carries no Content-Length.
    const headers: OutgoingHttpHeaders =
      body.length > 0
        ? { "Content-Type": "text/html", "Content-Length": String(body.length) }
        : status === 204 || status === 304
          ? {}
          : { "Content-Length": "0" };
    return { render: () => ({ status, headers, body }), needsVars: false };
  }
  if (template.isConstant) {
    const body = Buffer.from(template(null as unknown as VariableSource));
    const headers: OutgoingHttpHeaders = { "Content-Type": defaultType, "Content-Length": String(body.length) };
    return { render: () => ({ status, headers, body }), needsVars: false };
  }
  return {
    render: (source) => {
      const body = Buffer.from(template(source as VariableSource));
      return { status, headers: { "Content-Type": defaultType, "Content-Length": String(body.length) }, body };
    },
    needsVars: true,
  };
}

interface ProxyCompileContext {
  upstreamTls: UpstreamTls | null;
  isRegex: boolean;
  prefixLength: number;
  locationKey: string;
  pattern: string;
  modifier: string;
  upstreamGroups: Map<string, CompiledUpstream>;
  nextUpstream: NextUpstream;
  usedUpstreams: Set<string>;
  pools: PoolRegistry;
  poolKeys: Set<string>;
  logger: Logger;
  vars: Readonly<Record<string, unknown>>;
  bodyLimit: number;
  finishHeaders: (status: number, headers: string[]) => void;
  recommended: boolean;
  connectTimeout: number;
  readTimeout: number;
  sendTimeout: number;
  error: (field: FieldPath, message: string, at?: "key" | "value") => void;
  warn: (field: FieldPath, message: string, at?: "key" | "value") => void;
}

/** NixOS recommendedProxySettings, in the order its generated config sets them. */
const RECOMMENDED_HEADERS: ReadonlyArray<readonly [string, string]> = [
  ["Host", "$host"],
  ["X-Real-IP", "$remote_addr"],
  ["X-Forwarded-For", "$proxy_add_x_forwarded_for"],
  ["X-Forwarded-Proto", "$scheme"],
  ["X-Forwarded-Host", "$host"],
  ["X-Forwarded-Server", "$hostname"],
];

function compileProxy(loc: Validated, field: FieldPath, c: ProxyCompileContext): ProxyRoute | null {
  const proxyField = [...field, "proxyPass"];
  let spec: ProxyPassSpec;
  try {
    spec = parseProxyPass(loc.proxyPass);
  } catch (err) {
    c.error(proxyField, (err as Error).message);
    return null;
  }
  if (spec.uri !== null && c.isRegex) {
    // nginx: "proxy_pass" cannot have URI part in location given by regular expression.
    c.error(proxyField, `a regex location cannot pass a URI part ("${spec.uri}"): nginx refuses it too; drop the path from proxyPass`);
    return null;
  }
  if (spec.uri?.endsWith("/") && !c.isRegex && c.modifier !== "=" && !c.pattern.endsWith("/")) {
    c.warn(
      proxyField,
      `"${c.pattern}/x" goes upstream as "${spec.uri}/x" (nginx does the same: the location prefix is replaced by "${spec.uri}"); write the location as "${c.pattern}/" or proxyPass without the trailing slash`,
    );
  }

  // Servers: an upstreams entry by that name, or the host itself.
  const group = !spec.explicitPort ? c.upstreamGroups.get(spec.host) : undefined;
  const peers = group ? group.plan.peers : [singlePeer(`${spec.host.includes(":") && !spec.host.startsWith("[") ? `[${spec.host}]` : spec.host}:${spec.port}`)];
  if (group) c.usedUpstreams.add(spec.host);
  else if (!spec.explicitPort && !/[.:[]/.test(spec.host) && spec.host !== "localhost") {
    // "http://backend/" reads as an upstream's name; when there is none, it is a host name on port 80.
    const guess = closest(spec.host, c.upstreamGroups.keys());
    c.warn(
      proxyField,
      `no upstream is named "${spec.host}", so it is looked up as a host name on port ${spec.port}${guess ? `: did you mean the upstream "${guess}"?` : ""}`,
    );
  }
  const servers: UpstreamServer[] = peers.map((peer) => {
    const address = peer.address;
    const origin = `${spec.scheme}://${/:\d+$/.test(address) ? address : `${address}:${spec.scheme === "https" ? 443 : 80}`}`;
    const { key, pool } = c.pools.get(origin, { connectTimeout: c.connectTimeout, connections: group?.keepalive ?? null, tls: c.upstreamTls });
    c.poolKeys.add(key);
    return { ...peer, origin, pool };
  });

  const setHeaders: Array<readonly [string, Template]> = [];
  const byName = new Map<string, readonly [string, string, FieldPath]>();
  if (c.recommended) for (const [name, value] of RECOMMENDED_HEADERS) byName.set(name.toLowerCase(), [name, value, [...field, "recommendedProxySettings"]]);
  for (const [name, value] of Object.entries<string>(loc.proxySetHeader ?? {}))
    byName.set(name.toLowerCase(), [name, value, [...field, "proxySetHeader", name]]);
  // The hash key's variables are built with the headers' (one VariableSource per request).
  let needsVars = group?.hashKey != null && group.hashKey !== "consumer" && !group.hashKey.isConstant;
  for (const [name, value, where] of byName.values()) {
    try {
      const template = compileTemplate(value, c.vars);
      if (!template.isConstant) needsVars = true;
      setHeaders.push([name, template]);
    } catch (err) {
      c.error(where, templateMessage(err, c.vars));
    }
  }
  return {
    spec,
    pick: createBalancer(servers, group?.loadBalancing),
    hashKey: group?.hashKey ?? null,
    nextUpstream: c.nextUpstream,
    prefixLength: c.prefixLength,
    setHeaders,
    replacedHeaders: new Set(byName.keys()),
    setHeadersNeedVars: needsVars,
    headersTimeout: c.readTimeout,
    bodyTimeout: c.readTimeout,
    sendTimeout: c.sendTimeout,
    connectTimeout: c.connectTimeout,
    tls: c.upstreamTls?.options ?? null,
    bodyLimit: c.bodyLimit,
    logger: c.logger,
    finishHeaders: c.finishHeaders,
  };
}

interface TableParts {
  source: ConfigSource;
  listen: ListenAddress[];
  server: ServerSettings;
  warnings: ConfigIssue[];
  files: Set<string>;
  poolKeys: Set<string>;
  upstreams: ReadonlyMap<string, UpstreamPlan>;
  locations: LocationSummary[];
  hosts: HostMatcher<CompiledVirtualHost>;
  /** What plain listeners serve (forceSSL hosts redirect), and TLS listeners (null: no TLS virtual host). */
  plainHosts: HostMatcher<CompiledVirtualHost>;
  tlsHosts: HostMatcher<CompiledVirtualHost> | null;
  tls: TlsSettings | null;
  logger: Logger;
  clientAddress: ClientAddress;
  observer: Observer | null;
  close: () => Promise<void>;
}

const NOT_FOUND_BODY = Buffer.from(statusPage(404));
const NOT_FOUND_HEADERS = ["Server", SERVER_NAME, "Content-Type", "text/html", "Content-Length", String(NOT_FOUND_BODY.length)];

/** Splits the request target; absolute-form (`GET http://host/path`) names the host itself (RFC 9112 3.2.2). */
function splitTarget(url: string): { raw: string; rawPath: string; rawQuery: string; host: string | undefined } | null {
  let raw = url;
  let host: string | undefined;
  if (url.charCodeAt(0) !== 47 /* / */) {
    const absolute = /^https?:\/\/([^/?#]*)([^#]*)/i.exec(url);
    if (!absolute) return null;
    host = absolute[1];
    raw = absolute[2] || "/";
    if (raw.charCodeAt(0) !== 47) raw = `/${raw}`;
  }
  const q = raw.indexOf("?");
  return q < 0 ? { raw, rawPath: raw, rawQuery: "", host } : { raw, rawPath: raw.slice(0, q), rawQuery: raw.slice(q + 1), host };
}

function createTable(parts: TableParts): RouteTable {
  const { hosts, logger, clientAddress } = parts;

  const reject = (
    res: ServerResponse,
    code: "PTC_ERR_REQUEST_BAD_PATH" | "PTC_ERR_REQUEST_BAD_HOST" | "PTC_ERR_REQUEST_BODY_TOO_LARGE",
    req: IncomingMessage,
  ): void => {
    const requestId = nextRequestId();
    logger.info({ code, requestId, url: req.url, ip: clientAddress(req) }, "request refused");
    sendError(res, code, requestId);
  };

  /** Picks virtual host and location, and hands over; `upgrade` for an Upgrade request whose socket the server gave up. */
  function route(
    hosts: HostMatcher<CompiledVirtualHost>,
    scheme: "http" | "https",
    req: IncomingMessage,
    res: ServerResponse,
    upgrade: { socket: Duplex; head: Buffer } | null,
  ): void {
    const split = splitTarget(req.url ?? "/");
    const path = split ? normalizePath(split.rawPath) : null;
    if (!split || path === null) {
      reject(res, "PTC_ERR_REQUEST_BAD_PATH", req);
      return;
    }

    // One pass over the raw headers for what routing needs, without building req.headers.
    const raw = req.rawHeaders;
    let hostHeader: string | undefined;
    let hostCount = 0;
    let contentLength = -1;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i] as string;
      if (name.length === 4 && name.toLowerCase() === "host") {
        hostHeader = raw[i + 1];
        hostCount++;
      } else if (name.length === 14 && name.toLowerCase() === "content-length") contentLength = Number(raw[i + 1]);
      // HTTP/2 (RFC 9113 8.3.1): :authority stands for Host, which then is usually absent.
      else if (name.length === 10 && name === ":authority" && hostCount === 0) {
        hostHeader = raw[i + 1];
        hostCount = 1;
      }
    }
    // RFC 9112 3.2: HTTP/1.1 needs exactly one Host (nginx: "client sent duplicate host header");
    // an absolute-form target names the host itself and takes precedence.
    const host = hostCount > 1 || (hostCount === 0 && split.host === undefined && req.httpVersion === "1.1") ? null : normalizeHost(split.host ?? hostHeader);
    if (host === null) {
      reject(res, "PTC_ERR_REQUEST_BAD_HOST", req);
      return;
    }
    const vhost = hosts.match(host).data;
    if (vhost.forceSSL) {
      // NixOS forceSSL: return 301 https://$host$request_uri;
      const body = statusPage(301);
      res.writeHead(301, [
        "Server",
        SERVER_NAME,
        "Location",
        `https://${host || vhost.names[0] || "localhost"}${split.raw}`,
        "Content-Type",
        "text/html",
        "Content-Length",
        String(body.length),
      ]);
      res.end(body);
      return;
    }
    const found = vhost.locations.match(path);
    if (found === null) {
      res.writeHead(404, NOT_FOUND_HEADERS);
      res.end(NOT_FOUND_BODY);
      return;
    }
    if ("redirectTo" in found) {
      const body = statusPage(301);
      res.writeHead(301, [
        "Server",
        SERVER_NAME,
        "Location",
        redirectBase(scheme, host || vhost.names[0] || "localhost", req) + found.redirectTo + (split.rawQuery ? `?${split.rawQuery}` : ""),
        "Content-Type",
        "text/html",
        "Content-Length",
        String(body.length),
      ]);
      res.end(body);
      return;
    }
    const location = found.location.data;
    if (location.bodyLimit > 0 && contentLength > location.bodyLimit) {
      reject(res, "PTC_ERR_REQUEST_BODY_TOO_LARGE", req);
      return;
    }
    const target: RequestTarget = { raw: split.raw, rawPath: split.rawPath, rawQuery: split.rawQuery, path };
    try {
      if (upgrade !== null && location.upgrade !== null)
        location.upgrade(req, res, upgrade.socket, upgrade.head, target, found.captures ? Array.from(found.captures) : null);
      else location.handle(req, res, target, found.captures ? Array.from(found.captures) : null);
    } catch (error) {
      // A bug of ours must cost one request, never the process.
      const requestId = nextRequestId();
      logger.error({ code: "PTC_ERR_HOOK_FAILED", requestId, location: location.summary.key, err: error }, "request handler threw");
      sendError(res, "PTC_ERR_HOOK_FAILED", requestId);
    }
  }

  const { plainHosts, tlsHosts } = parts;
  const handle = (req: IncomingMessage, res: ServerResponse): void => route(plainHosts, "http", req, res, null);
  const tlsRoutes = tlsHosts ?? plainHosts;
  const handleTls = (req: IncomingMessage, res: ServerResponse): void => route(tlsRoutes, "https", req, res, null);

  /**
   * An Upgrade request: routed like any other. A proxyWebsockets location opens the tunnel; any
   * other answers it as a plain request (nginx drops Upgrade as hop-by-hop), then closes.
   */
  function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const res = new ServerResponse(req);
    res.assignSocket(socket as Socket);
    res.shouldKeepAlive = false;
    res.once("finish", () => socket.end());
    const tls = (socket as TLSSocket).encrypted === true;
    route(tls ? tlsRoutes : plainHosts, tls ? "https" : "http", req, res, { socket, head });
  }

  function explain(method: string, url: string, hostArg?: string): RouteExplanation {
    const split = splitTarget(url);
    const givenHost = hostArg ?? split?.host;
    const normalized = normalizeHost(givenHost);
    if (normalized === null) {
      return {
        virtualHost: "",
        virtualHostReason: `the Host ${JSON.stringify(givenHost)} is not a valid host name: 400`,
        path: null,
        location: null,
        reason: "invalid Host header: 400",
        steps: [],
        status: 400,
      };
    }
    const host = normalized;
    const vhostMatch = hosts.match(host);
    const vhostExplain = hosts.explain(host);
    const base = { virtualHost: vhostMatch.data.name, virtualHostReason: typeof vhostExplain === "string" ? vhostExplain : vhostMatch.reason };
    const path = split ? normalizePath(split.rawPath) : null;
    if (!split || path === null) {
      return {
        ...base,
        path: null,
        location: null,
        reason: "the path does not normalise (it climbs above / or decodes to a NUL or a bad %XX): 400",
        steps: [],
        status: 400,
      };
    }
    const explanation = vhostMatch.data.locations.explain(path);
    const result: RouteExplanation = { ...base, path, location: null, reason: explanation.reason, steps: explanation.steps };
    const match = explanation.match;
    if (match === null) return { ...result, status: 404 };
    if ("redirectTo" in match) return { ...result, redirectTo: match.redirectTo, status: 301 };
    const compiled = match.location.data;
    result.location = compiled.summary;
    if (compiled.proxy) {
      // The same function the proxy uses, so that what this says is what is sent.
      const { spec, prefixLength } = compiled.proxy;
      result.upstreamUrl = `${spec.scheme}://${spec.proxyHost}${upstreamPath(spec, prefixLength, path, split.rawPath, split.raw, split.rawQuery, false)}`;
    }
    // nginx picks a location by path alone; the method is shown, not matched.
    void method;
    return result;
  }

  return {
    source: parts.source,
    listen: parts.listen,
    server: parts.server,
    warnings: parts.warnings,
    files: parts.files,
    poolKeys: parts.poolKeys,
    upstreams: parts.upstreams,
    locations: parts.locations,
    handle: parts.observer ? parts.observer.wrapTable(handle, clientAddress) : handle,
    handleTls: parts.observer ? parts.observer.wrapTable(handleTls, clientAddress) : handleTls,
    handleUpgrade,
    tls: parts.tls,
    clientAddress,
    explain,
    close: parts.close,
  };
}
