/**
 * The cache key, compiled once per config: nginx's proxy_cache_key. The default is the method,
 * the Host, the normalised path and the query, written `host/path?query METHOD`, so that a purge
 * by prefix (`example.com/api/`) reaches every entry under a path. Extra parts follow, separated by
 * spaces: `name=value` for chosen headers, `consumer=NAME`, and `vary:` for a Vary variant.
 */
import type { IncomingHttpHeaders } from "node:http";
import type { RequestPhaseContext } from "../../lifecycle/context.js";
import type { ProxyCacheConfig } from "./schema.js";

/** `method` is the one the entry is stored under: GET for HEAD (a HEAD is answered from the GET's entry). */
export type KeyFunction = (ctx: RequestPhaseContext, method: string) => string;

function headerText(value: string | string[] | undefined): string {
  return value === undefined ? "" : Array.isArray(value) ? value.join(", ") : value;
}

function queryOf(url: string): string {
  const at = url.indexOf("?");
  return at === -1 ? "" : url.slice(at);
}

export function compileKey(conf: ProxyCacheConfig["key"]): KeyFunction {
  const { method, host, path, query, consumer } = conf;
  const headers = conf.headers.map((name) => name.toLowerCase());
  if (method && host && path && query && headers.length === 0 && !consumer) {
    // The default, without loops.
    return (ctx, verb) => `${(ctx.request.headers.host ?? "").toLowerCase()}${ctx.request.path}${queryOf(ctx.request.url)} ${verb}`;
  }
  return (ctx, verb) => {
    let key = "";
    if (host) key += (ctx.request.headers.host ?? "").toLowerCase();
    if (path) key += ctx.request.path;
    if (query) key += queryOf(ctx.request.url);
    if (method) key += ` ${verb}`;
    for (const name of headers) key += ` ${name}=${headerText(ctx.request.headers[name])}`;
    if (consumer) key += ` consumer=${ctx.consumer?.name ?? ""}`;
    return key;
  };
}

/** The key of one Vary variant: the request's values of the headers the upstream's Vary names. */
export function variantKey(key: string, vary: readonly string[], headers: IncomingHttpHeaders): string {
  let out = `${key} vary:`;
  for (const name of vary) out += `${name}=${headerText(headers[name])};`;
  return out;
}

/** Header names of a Vary field, lower-cased. */
export function varyNames(vary: string | string[] | undefined): string[] {
  if (vary === undefined) return [];
  return headerText(vary)
    .split(",")
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name !== "");
}
