/**
 * The location's upstream request, made for a plugin that needs the answer in hand (proxyCache)
 * rather than streamed straight to the client: the same request building as forward() (nginx's
 * proxy_pass URI rule, proxySetHeader, recommendedProxySettings, Host, pools, timeouts), and the
 * answer as `{ status, headers, body stream }` with hop-by-hop headers and Server removed.
 */
import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import type { Readable } from "node:stream";
import type { Dispatcher } from "undici";
import { PorticoError } from "../errors.js";
import { removeHeaders } from "../http/header-list.js";
import { connectionTokens, dropResponseHeader } from "../http/hop-headers.js";
import type { VariableSource } from "../http/variables.js";
import { type ProxyRoute, type RequestTarget, requestHeaders } from "./forward.js";
import type { UpstreamServer } from "./pools.js";
import { upstreamPath } from "./proxy-pass.js";

export interface UpstreamAnswer {
  status: number;
  /** Lower-case names; repeated headers (set-cookie) as arrays. */
  headers: Record<string, string | string[]>;
  /** The body, streamed: read it or destroy it. */
  body: Readable;
}

export interface UpstreamRequest {
  method: string;
  /** The request headers to send (lower-case names), before proxySetHeader and Host are applied. */
  headers: IncomingHttpHeaders;
  /** The normalised path (a rewrite hook's, when pathChanged). */
  path: string;
  pathChanged: boolean;
  /** For `loadBalancing: hash` with `hashKey: consumer`. */
  consumer: string | null;
}

/** Failures that mean the request never reached the server: another server of the group may take it. */
const NOT_SENT = new Set(["ECONNREFUSED", "UND_ERR_CONNECT_TIMEOUT", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN", "EADDRNOTAVAIL"]);

const isContentLength = (name: string) => name === "content-length" || name === "transfer-encoding";

function clientHeaders(raw: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  let named: Set<string> | null = null;
  for (const name in raw) {
    const value = raw[name];
    if (value === undefined) continue;
    if (name === "connection") named = connectionTokens(Array.isArray(value) ? value.join(",") : value, named);
    // Server is the gateway's own; Date stays (a cache computes ages from it).
    if (name === "date" ? false : dropResponseHeader(name)) continue;
    // One string per field (what http-cache-semantics reads), except Set-Cookie (RFC 9110 5.3).
    out[name] = Array.isArray(value) && name !== "set-cookie" ? value.join(", ") : value;
  }
  // RFC 9110 7.6.1: drop the fields named in Connection.
  if (named !== null) for (const name of named) delete out[name];
  return out;
}

/**
 * Sends the request to a server of the route (the next one when a server refuses the connection)
 * and resolves once the upstream's status and headers are in. Rejects with undici's error (see
 * forward.ts errorCode()) or PTC_ERR_UPSTREAM_UNAVAILABLE when no server is available.
 */
export async function fetchUpstream(
  req: IncomingMessage,
  route: ProxyRoute,
  target: RequestTarget,
  request: UpstreamRequest,
  variables: VariableSource | null,
): Promise<UpstreamAnswer> {
  const hashKey = route.hashKey;
  const key = hashKey === null ? "" : hashKey === "consumer" ? (request.consumer ?? "") : hashKey(variables as VariableSource);
  const path = upstreamPath(route.spec, route.prefixLength, request.path, target.rawPath, target.raw, target.rawQuery, request.pathChanged);
  const { headers } = requestHeaders(req, route, request.headers, variables);
  // No request body is sent: the cache makes GET and HEAD requests.
  removeHeaders(headers, isContentLength);
  const options: Dispatcher.RequestOptions = {
    path,
    method: request.method as Dispatcher.HttpMethod,
    headers,
    body: null,
    headersTimeout: route.headersTimeout,
    bodyTimeout: route.bodyTimeout,
  };
  let tried: Set<UpstreamServer> | null = null;
  let server = route.pick(null, key);
  for (;;) {
    if (server === null) throw new PorticoError("PTC_ERR_UPSTREAM_UNAVAILABLE", "no live upstreams");
    try {
      const answer = await server.pool.request(options);
      return { status: answer.statusCode, headers: clientHeaders(answer.headers), body: answer.body };
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === undefined || !NOT_SENT.has(code)) throw error;
      tried ??= new Set();
      tried.add(server);
      if (tried.size >= route.pick.servers.length) throw error;
      server = route.pick(tried, key);
    }
  }
}
