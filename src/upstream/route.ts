/**
 * A proxied location's upstream plan (built by compile/, read by the upstream layer) and the
 * request target as the server split it.
 */
import type { ConnectionOptions } from "node:tls";
import type { Logger } from "pino";
import type { Template } from "../http/variables.js";
import type { Balancer } from "./pools.js";
import type { ProxyPassSpec } from "./proxy-pass.js";

/** Everything about a proxied location that does not change per request, built at load. */
export interface ProxyRoute {
  spec: ProxyPassSpec;
  pick: Balancer;
  /** loadBalancing hash: the key's template, or "consumer"; null for the other methods. */
  hashKey: Template | "consumer" | null;
  /** proxyNextUpstream*: when to try another server of the group. */
  nextUpstream: NextUpstream;
  /** Prefix length of the matched location (whole path for `=`), for the URI replacement. */
  prefixLength: number;
  /** proxySetHeader and recommendedProxySettings, as [name, template]; "" removes a header. */
  setHeaders: ReadonlyArray<readonly [string, Template]>;
  /** Lower-case names that setHeaders replace, so the client's copy is dropped. */
  replacedHeaders: ReadonlySet<string>;
  /** Whether any template needs the request's variables (otherwise none are built). */
  setHeadersNeedVars: boolean;
  headersTimeout: number;
  bodyTimeout: number;
  /** nginx proxy_send_timeout: longest time the upstream may leave the request body unread. */
  sendTimeout: number;
  /** nginx proxy_connect_timeout (the pools apply it; the WebSocket tunnel reads it here). */
  connectTimeout: number;
  /** TLS options of https:// upstreams (proxySsl*), for connections made outside the pools (WebSocket). */
  tls: ConnectionOptions | null;
  bodyLimit: number;
  logger: Logger;
  /** Adds addHeader and Server to the response header list, by status. */
  finishHeaders: (status: number, headers: string[]) => void;
}

/** A location's proxyNextUpstream, proxyNextUpstreamTries and proxyNextUpstreamTimeout (compiled by compile/upstream-groups.ts). */
export interface NextUpstream {
  error: boolean;
  timeout: boolean;
  nonIdempotent: boolean;
  /** http_NNN statuses: retried, and counted as failures of the server (nginx). */
  statuses: ReadonlySet<number>;
  /** Most attempts, the first included (0 = one per server). */
  tries: number;
  /** ms after the first attempt during which another may start (0 = no limit). */
  timeLimit: number;
}

/** The request line, split once by the server. */
export interface RequestTarget {
  /** Path and query exactly as received (origin-form). */
  raw: string;
  rawPath: string;
  rawQuery: string;
  /** Normalised path. */
  path: string;
}
