/**
 * For plugins whose content hook stands in front of a location's proxy (proxyCache): make the
 * location's upstream request through the upstream layer (the same builder, accounting and
 * retries as the proxy) and get the answer back instead of having it streamed to the client.
 * A content hook that returns nothing on a proxyPass location lets the proxy run as usual.
 */
import type { IncomingHttpHeaders } from "node:http";
import type { LocationPlan } from "../compile/plan.js";
import { errorCode } from "../upstream/classify.js";
import { fetchUpstream as fetchThrough, type UpstreamAnswer } from "../upstream/fetch.js";
import { targetPath } from "../upstream/request.js";
import type { ProxyRoute } from "../upstream/route.js";
import { type BaseContext, RequestContext } from "./context.js";
import { editsOf, variablesOf } from "./request.js";

export type { UpstreamAnswer };
/** The client's error code for a failed fetchUpstream() (what the proxy would have answered). */
export { errorCode };

export interface FetchUpstreamOptions {
  /** Default: the request's method. */
  method?: string;
  /** Default: the request's headers (as rewrite and access hooks left them). */
  headers?: IncomingHttpHeaders;
}

function routeOf(ctx: BaseContext): ProxyRoute | null {
  if (!(ctx instanceof RequestContext)) return null;
  const answer = (ctx.plan as LocationPlan).answer;
  return answer.kind === "proxy" ? answer.route : null;
}

/** Whether this request's location proxies (so that fetchUpstream() can be called). */
export function canFetchUpstream(ctx: BaseContext): boolean {
  return routeOf(ctx) !== null;
}

/**
 * The path and query this request goes upstream with (nginx's proxy_pass URI rule, after a
 * rewrite hook's changes), byte for byte: what a cache keys on, as nginx keys on what it sends.
 */
export function upstreamTarget(ctx: BaseContext): string {
  const route = routeOf(ctx);
  if (route === null || !(ctx instanceof RequestContext)) return ctx.request.url;
  return targetPath(route, ctx.target, editsOf(ctx));
}

/**
 * Sends the location's upstream request (proxy_pass URI rule, proxySetHeader, pools, timeouts,
 * health and retries) and resolves with `{ status, headers, body }` once the headers are in. The
 * body is a stream: read it or destroy it. Rejects with an error whose `code` is what the client
 * would be answered (PTC_ERR_UPSTREAM_*).
 */
export function fetchUpstream(ctx: BaseContext, options: FetchUpstreamOptions = {}): Promise<UpstreamAnswer> {
  const route = routeOf(ctx);
  if (route === null || !(ctx instanceof RequestContext)) return Promise.reject(new TypeError("fetchUpstream needs a request on a proxyPass location"));
  const plan = ctx.plan as LocationPlan;
  const variables = plan.needsVariables
    ? variablesOf(plan, ctx.req, ctx.target.path, ctx.target, ctx.location.captures, ctx.requestId, () => ctx.request.ip)
    : null;
  return fetchThrough(
    ctx.req,
    ctx.res,
    route,
    ctx.target,
    editsOf(ctx),
    options.method ?? ctx.request.method,
    options.headers ?? ctx.request.headers,
    variables,
    ctx.requestId,
  );
}
