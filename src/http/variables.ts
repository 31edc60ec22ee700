/**
 * nginx variables in config strings (`return 301 https://$host$request_uri`, proxySetHeader values):
 * parsed once at load into a list of parts; a request only concatenates.
 */
import type { IncomingMessage } from "node:http";
import { hostname } from "node:os";

/** What a template may read of a request. Built only for locations that use a template. */
export interface VariableSource {
  req: IncomingMessage;
  /** Normalised path ($uri). */
  path: string;
  /** Query without "?" ($args). */
  rawQuery: string;
  /** Host from the request, lower-case, without port; else the server name ($host). */
  host: string;
  serverName: string;
  scheme: "http" | "https";
  /** The client address ($remote_addr): the socket's peer, or what a trusted proxy says. */
  ip: string;
  captures: readonly string[] | null;
  proxyHost: string;
  requestId: string;
}

type Part = string | ((source: VariableSource) => string);
export type Template = ((source: VariableSource) => string) & { readonly isConstant: boolean; readonly text: string };

const HOSTNAME = hostname();

function header(req: IncomingMessage, name: string): string {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(", ") : (value ?? "");
}

const BUILTIN: Record<string, (source: VariableSource) => string> = {
  host: (s) => s.host,
  hostname: () => HOSTNAME,
  remote_addr: (s) => s.ip,
  // nginx realip: the peer of the socket, before trustedProxies replaced it.
  realip_remote_addr: (s) => s.req.socket?.remoteAddress ?? "",
  scheme: (s) => s.scheme,
  https: (s) => (s.scheme === "https" ? "on" : ""),
  request_uri: (s) => s.req.url ?? "/",
  uri: (s) => s.path,
  document_uri: (s) => s.path,
  args: (s) => s.rawQuery,
  query_string: (s) => s.rawQuery,
  is_args: (s) => (s.rawQuery ? "?" : ""),
  request_method: (s) => s.req.method ?? "GET",
  server_name: (s) => s.serverName,
  server_port: (s) => String(s.req.socket?.localPort ?? ""),
  server_protocol: (s) => `HTTP/${s.req.httpVersion}`,
  proxy_host: (s) => s.proxyHost,
  request_id: (s) => s.requestId,
  content_type: (s) => header(s.req, "content-type"),
  content_length: (s) => header(s.req, "content-length"),
  http_host: (s) => header(s.req, "host"),
  // Appends the socket's peer (the hop that reached us), not the resolved client address.
  proxy_add_x_forwarded_for: (s) => {
    const peer = s.req.socket?.remoteAddress ?? "";
    const previous = header(s.req, "x-forwarded-for");
    return previous ? `${previous}, ${peer}` : peer;
  },
};

/**
 * nginx's absolute_redirect (on by default): a relative redirect becomes scheme://host[:port],
 * with the host from the request (server_name_in_redirect off) and the port the request came in
 * on unless it is the scheme's default (port_in_redirect on).
 */
export function redirectBase(scheme: "http" | "https", host: string, req: IncomingMessage): string {
  const port = req.socket?.localPort;
  const showPort = port !== undefined && port !== (scheme === "https" ? 443 : 80);
  return `${scheme}://${host.includes(":") && !host.startsWith("[") ? `[${host}]` : host}${showPort ? `:${port}` : ""}`;
}

/** Names a template may use, for "did you mean" in config errors. */
export const VARIABLE_NAMES = Object.keys(BUILTIN);

export class TemplateError extends Error {}

/**
 * Compiles `text` with `$name`, `${name}`, `$http_x_foo`, `$arg_page`, `$1`…`$9`, and names from
 * the config's `vars`. An unknown variable is an error at load, as in nginx.
 */
export function compileTemplate(text: string, vars: Readonly<Record<string, unknown>> = {}): Template {
  const parts: Part[] = [];
  const pattern = /\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z_][A-Za-z0-9_]*|[0-9]))/g;
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    const name = (match[1] ?? match[2]) as string;
    if (match.index > last) parts.push(text.slice(last, match.index));
    last = match.index + match[0].length;
    parts.push(resolve(name, vars));
  }
  if (last < text.length) parts.push(text.slice(last));

  let render: (source: VariableSource) => string;
  if (parts.length === 0) render = () => "";
  else if (parts.length === 1 && typeof parts[0] === "string") {
    const constant = parts[0];
    render = () => constant;
  } else if (parts.length === 1) render = parts[0] as (source: VariableSource) => string;
  else {
    render = (source) => {
      let out = "";
      for (const part of parts) out += typeof part === "string" ? part : part(source);
      return out;
    };
  }
  return Object.assign(render, { isConstant: parts.every((part) => typeof part === "string"), text });
}

function resolve(name: string, vars: Readonly<Record<string, unknown>>): Part {
  if (/^[0-9]$/.test(name)) {
    const index = Number(name);
    return (s) => s.captures?.[index] ?? "";
  }
  const builtin = BUILTIN[name];
  if (builtin) return builtin;
  if (name.startsWith("http_")) {
    const headerName = name.slice(5).replaceAll("_", "-").toLowerCase();
    return (s) => header(s.req, headerName);
  }
  if (name.startsWith("arg_")) {
    const argName = name.slice(4);
    return (s) => new URLSearchParams(s.rawQuery).get(argName) ?? "";
  }
  if (Object.hasOwn(vars, name)) return String(vars[name]);
  throw new TemplateError(`unknown variable "$${name}": use one of $${VARIABLE_NAMES.join(", $")}, $http_NAME, $arg_NAME, $1…$9, or a name from vars`);
}
