/**
 * For plugins whose content hook stands in front of a location's proxy (proxyCache): make the
 * location's upstream request and get the answer back instead of having it streamed to the client.
 * A content hook that returns nothing on a proxyPass location lets the proxy run as usual.
 */
import type { IncomingHttpHeaders } from "node:http";
import { fetchUpstream as fetchFrom, type UpstreamAnswer } from "../upstream/fetch.js";
import { type BaseContext, RequestContext } from "./context.js";

export type { UpstreamAnswer };

export interface FetchUpstreamOptions {
  /** Default: the request's method. */
  method?: string;
  /** Default: the request's headers (as rewrite and access hooks left them). */
  headers?: IncomingHttpHeaders;
}

/** Whether this request's location proxies (so that fetchUpstream() can be called). */
export function canFetchUpstream(ctx: BaseContext): boolean {
  return ctx instanceof RequestContext && ctx.phased !== null;
}

/**
 * Sends the location's upstream request (proxy_pass URI rule, proxySetHeader, pools, timeouts,
 * the next server when one refuses) and resolves with `{ status, headers, body }` once the
 * headers are in. The body is a stream: read it or destroy it.
 */
export function fetchUpstream(ctx: BaseContext, options: FetchUpstreamOptions = {}): Promise<UpstreamAnswer> {
  if (!(ctx instanceof RequestContext) || ctx.phased === null || ctx.target === null || ctx.phased.proxy === null) {
    return Promise.reject(new TypeError("fetchUpstream needs a request on a proxyPass location"));
  }
  const loc = ctx.phased;
  const route = loc.proxy as NonNullable<typeof loc.proxy>;
  const variables = route.setHeadersNeedVars ? loc.variables(ctx.req, ctx.target, ctx.location.captures, ctx.requestId) : null;
  return fetchFrom(
    ctx.req,
    route,
    ctx.target,
    {
      method: options.method ?? ctx.request.method,
      headers: options.headers ?? ctx.request.headers,
      path: ctx.request.path,
      pathChanged: ctx.pathChanged,
      consumer: ctx.consumer?.name ?? null,
    },
    variables,
  );
}
