/**
 * The Plan: what a config compiles to, plain data and prebuilt functions, immutable, swapped in one
 * assignment on reload. The compile steps (this folder) build it; the lifecycle walks it per
 * request; `portico routes` and the dashboard read it. Nothing here runs a request.
 */
import type { OutgoingHttpHeaders } from "node:http";
import type { SecureContext, SecureVersion } from "node:tls";
import type { Logger } from "pino";
import type { ConfigSource } from "../config/source.js";
import type { ConfigIssue } from "../errors.js";
import type { Template } from "../http/variables.js";
import type { EngineContext, HookResult, LocationInfo, Phase, VirtualHostInfo } from "../lifecycle/context.js";
import type { ClientAddress } from "../router/client-address.js";
import type { LocationMatcher } from "../router/locations.js";
import type { HostMatcher } from "../router/virtual-hosts.js";
import type { UpstreamPlan } from "../upstream/health.js";
import type { ProxyRoute } from "../upstream/route.js";

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
  /** Who runs in each phase that has hooks (plugins by priority, then the location's own), in order. */
  phases: Partial<Record<Phase, string[]>>;
  /** No phase runs on this location: no request context is built. */
  fastPath: boolean;
}

/** One hook of a phase chain: a plugin's (bound to its instance at compile time) or the location's own. */
export interface CompiledHook {
  /** Who this is in logs: `plugin keyAuth` or `location "/x" access (./x.js)`. */
  label: string;
  run: (ctx: EngineContext) => HookResult | Promise<HookResult>;
}

/** A location's hooks per phase, in order; `null` where a phase has none (it then costs one check). */
export type PhaseChains = { readonly [P in Phase]: CompiledHook[] | null };

/** A response the location makes itself (`return`), rendered from the request's variables. */
export type ReturnRenderer = (variables: import("../http/variables.js").VariableSource | null) => {
  status: number;
  headers: OutgoingHttpHeaders;
  body: Buffer;
};

/** How a location answers once the phases before content have let the request through. */
export type LocationAnswer =
  | { kind: "proxy"; route: ProxyRoute }
  | {
      kind: "return";
      render: ReturnRenderer;
      /** The answer when it needs no variables, as a ready header list and body (`null`: render per request). */
      constant: { status: number; headers: string[]; body: string } | null;
    }
  /** A content hook (or a plugin's) answers. */
  | { kind: "content" };

export interface LocationPlan {
  summary: LocationSummary;
  /** What hooks see as ctx.location (without captures) and ctx.virtualHost. */
  location: LocationInfo;
  virtualHost: VirtualHostInfo;
  /** $server_name: the virtual host's serverName, or its key. */
  serverName: string;
  /** clientMaxBodySize in bytes (0 = none): checked against Content-Length for every answer, as nginx does. */
  bodyLimit: number;
  defaultType: string;
  vars: Readonly<Record<string, unknown>>;
  /** The hook chains; `null` when the location has no hook or plugin at all (no context is built). */
  phases: PhaseChains | null;
  answer: LocationAnswer;
  /** proxyWebsockets: an Upgrade request opens a tunnel to this route after rewrite and access; null: served as a plain request. */
  websocket: ProxyRoute | null;
  /** Adds Server and addHeader to a response header list, by status (nginx add_header). */
  finishHeaders: (status: number, headers: string[]) => void;
  /** Whether the answer or the upstream request reads the request's variables (a VariableSource is built). */
  needsVariables: boolean;
  /** The access-log/metrics binding of this location (the Observer's), or null when nothing observes requests. */
  observe: unknown;
  logger: Logger;
}

export interface VirtualHostPlan {
  name: string;
  names: string[];
  locations: LocationMatcher<LocationPlan>;
  /** On a plain listener: answer 301 to https://$host$request_uri (NixOS forceSSL). */
  forceSSL: boolean;
}

export interface Plan {
  source: ConfigSource;
  listen: ListenAddress[];
  server: ServerSettings;
  warnings: ConfigIssue[];
  /** Files the config depends on (hook modules, certificates, key files), for reload-on-change. */
  files: Set<string>;
  /** Pool keys in use, so that a reload can close the others. */
  poolKeys: Set<string>;
  /** The `upstreams` groups of this config, for health checks and status. */
  upstreams: ReadonlyMap<string, UpstreamPlan>;
  locations: LocationSummary[];
  /** Every virtual host (for `portico routes`); what plain listeners serve (forceSSL hosts redirect); what TLS listeners serve (null: none). */
  hosts: HostMatcher<VirtualHostPlan>;
  plainHosts: HostMatcher<VirtualHostPlan>;
  tlsHosts: HostMatcher<VirtualHostPlan> | null;
  tls: TlsSettings | null;
  /** The client address of a request: the socket's peer, or what a trusted proxy says (trustedProxies). */
  clientAddress: ClientAddress;
  logger: Logger;
  /** Plugin instances to close when this plan is retired. */
  close(): Promise<void>;
}

export type { Template };
