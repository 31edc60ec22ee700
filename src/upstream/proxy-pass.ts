/**
 * nginx's proxy_pass rule for the URI sent upstream (ngx_http_proxy_module):
 * - proxy_pass with a URI part (even just "/"): the part of the normalised path that matched the
 *   location is replaced by that URI. `location /proxy` + `proxy_pass http://up/` turns
 *   `/proxy/a` into `//a`: nginx does exactly this, and so do we (`portico check` warns).
 * - proxy_pass without a URI: the request URI is passed exactly as the client sent it.
 * - after a rewrite changed the path (nginx `rewrite … break`): the changed path, whole.
 */
import { escapeUri, needsEscapeForProxy } from "../router/normalize-path.js";

export interface ProxyPassSpec {
  scheme: "http" | "https";
  /** Host name, address, or the name of an `upstreams` entry. */
  host: string;
  port: number;
  /** The URI part, or null when proxyPass has none (`http://host:port`). */
  uri: string | null;
  /** nginx's $proxy_host: what the upstream sees as Host by default. */
  proxyHost: string;
  /** Whether the port was written in the URL. */
  explicitPort: boolean;
}

export function parseProxyPass(value: string): ProxyPassSpec {
  const match = /^(https?):\/\/(\[[0-9A-Fa-f:.]+\]|[^/:?#\s]+)(?::(\d+))?(\/[^\s#]*)?$/.exec(value);
  if (!match) {
    if (value.includes("$")) throw new Error("variables in proxyPass are not supported yet: name a server or an upstream");
    throw new Error('expected "http://host[:port][/uri]" or "http://UPSTREAM_NAME[/uri]" (https:// works too)');
  }
  const scheme = match[1] as "http" | "https";
  const host = (match[2] as string).toLowerCase();
  const defaultPort = scheme === "https" ? 443 : 80;
  const port = match[3] === undefined ? defaultPort : Number(match[3]);
  if (port < 1 || port > 65535) throw new Error(`port ${port} is out of range`);
  const explicitPort = match[3] !== undefined;
  // nginx keeps the port in $proxy_host when the URL names a non-default one.
  const proxyHost = explicitPort && port !== defaultPort ? `${host}:${port}` : host;
  return { scheme, host, port, uri: match[4] ?? null, proxyHost, explicitPort };
}

/** The `prefixLength` of the matched location: what part of the path the URI replaces. */
export function upstreamPath(
  spec: ProxyPassSpec,
  prefixLength: number,
  path: string,
  rawPath: string,
  rawTarget: string,
  rawQuery: string,
  pathChanged: boolean,
): string {
  if (pathChanged) return escapeUri(path) + (rawQuery ? `?${rawQuery}` : "");
  if (spec.uri === null) return rawTarget;
  const rest = path.slice(prefixLength);
  const tail = needsEscapeForProxy(rawPath) ? escapeUri(rest) : rest;
  return spec.uri + tail + (rawQuery ? `?${rawQuery}` : "");
}
