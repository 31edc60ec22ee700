/**
 * The cache key, compiled once per config: nginx's proxy_cache_key. The default is the method,
 * the Host, and the path and query exactly as they go upstream, written `host/path?query METHOD`,
 * so that a purge by prefix (`example.com/api/`) reaches every entry under a path. As nginx keys
 * on the bytes it sends, two spellings the upstream may tell apart (`/c/%68ome`, `/c/home`) are
 * two entries: one can never be served for the other. Extra parts follow, separated by spaces:
 * `name=value` for chosen headers, `consumer=NAME`, and `vary:` for a Vary variant.
 */
import type { IncomingHttpHeaders } from "node:http";
import type { BaseContext } from "../../lifecycle/context.js";
import { upstreamTarget } from "../../lifecycle/fetch-upstream.js";
import type { ProxyCacheConfig } from "./schema.js";

/** `method` is the one the entry is stored under: GET for HEAD (a HEAD is answered from the GET's entry). */
export type KeyFunction = (ctx: BaseContext, method: string) => string;

function headerText(value: string | string[] | undefined): string {
  return value === undefined ? "" : Array.isArray(value) ? value.join(", ") : value;
}

function pathOf(target: string): string {
  const at = target.indexOf("?");
  return at === -1 ? target : target.slice(0, at);
}

function queryOf(target: string): string {
  const at = target.indexOf("?");
  return at === -1 ? "" : target.slice(at);
}

export function compileKey(conf: ProxyCacheConfig["key"]): KeyFunction {
  const { method, host, path, query, consumer } = conf;
  const headers = conf.headers.map((name) => name.toLowerCase());
  if (method && host && path && query && headers.length === 0 && !consumer) {
    // The default, without loops.
    return (ctx, verb) => `${(ctx.request.headers.host ?? "").toLowerCase()}${upstreamTarget(ctx)} ${verb}`;
  }
  return (ctx, verb) => {
    let key = "";
    const sent = path || query ? upstreamTarget(ctx) : "";
    if (host) key += (ctx.request.headers.host ?? "").toLowerCase();
    if (path) key += pathOf(sent);
    if (query) key += queryOf(sent);
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
