/**
 * The one upstream request builder, for the proxy, the cache fill and the WebSocket tunnel: the
 * target by nginx's proxy_pass URI rule, the headers (hop-by-hop dropped, proxySetHeader and
 * recommendedProxySettings applied, Host), and what the body is. Nothing is sent here.
 */
import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import { Transform } from "node:stream";
import { removeHeaders } from "../http/header-list.js";
import { connectionTokens, dropRequestHeader } from "../http/hop-headers.js";
import type { VariableSource } from "../http/variables.js";
import { ClientRequestError } from "./classify.js";
import { upstreamPath } from "./proxy-pass.js";
import type { ProxyRoute, RequestTarget } from "./route.js";

/** What the phases before the upstream changed of the request; null on a location without hooks. */
export interface RequestEdits {
  /** Headers as rewrite/access hooks left them (lower-case names). */
  headers: IncomingHttpHeaders;
  /** The normalised path (a rewrite hook's, when pathChanged). */
  path: string;
  pathChanged: boolean;
  /** The query to send instead of the received one (a hook assigned ctx.request.query), or null. */
  query: string | null;
  /** A body a hook has read: sent from memory instead of the stream. */
  body: Buffer | null;
  /** The authenticated consumer's name, for `hashKey: consumer`. */
  consumer: string | null;
}

/** The request headers for the upstream, and what the proxy needs to know of the body. */
export interface UpstreamHeaders {
  headers: string[];
  contentLength: number;
  chunked: boolean;
  /** Names listed in the client's Connection headers (RFC 9110 7.6.1: not forwarded). */
  named: Set<string> | null;
}

/** RFC 9110 5.5: what a field value may hold (undici refuses the rest). */
const INVALID_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

/** The path and query sent upstream (what the cache keys on, and what `portico routes` shows). */
export function targetPath(route: ProxyRoute, target: RequestTarget, edits: RequestEdits | null): string {
  if (edits === null) return upstreamPath(route.spec, route.prefixLength, target.path, target.rawPath, target.raw, target.rawQuery, false);
  const query = edits.query;
  return upstreamPath(
    route.spec,
    route.prefixLength,
    edits.path,
    target.rawPath,
    query === null ? target.raw : target.rawPath + (query ? `?${query}` : ""),
    query ?? target.rawQuery,
    edits.pathChanged,
  );
}

/** The balancer's hash key of a request ("" unless the group balances by hash). */
export function hashKeyOf(route: ProxyRoute, edits: RequestEdits | null, variables: VariableSource | null): string {
  const hashKey = route.hashKey;
  if (hashKey === null) return "";
  return hashKey === "consumer" ? (edits?.consumer ?? "") : hashKey(variables as VariableSource);
}

function addRequestHeader(state: UpstreamHeaders, route: ProxyRoute, name: string, value: string): void {
  const lower = name.toLowerCase();
  if (lower === "content-length") state.contentLength = Number(value);
  else if (lower === "transfer-encoding") state.chunked = true;
  else if (lower === "connection") state.named = connectionTokens(value, state.named);
  if (dropRequestHeader(lower) || route.replacedHeaders.has(lower)) return;
  state.headers.push(name, value);
}

/**
 * Builds the upstream header list from the client's raw headers (or the hook-edited object).
 * Throws ClientRequestError when a value made from the request's variables cannot be a header.
 */
export function requestHeaders(req: IncomingMessage, route: ProxyRoute, edited: IncomingHttpHeaders | null, variables: VariableSource | null): UpstreamHeaders {
  const state: UpstreamHeaders = { headers: [], contentLength: -1, chunked: false, named: null };
  if (edited) {
    for (const name in edited) {
      const value = edited[name];
      if (value === undefined) continue;
      if (Array.isArray(value)) for (const item of value) addRequestHeader(state, route, name, item);
      else addRequestHeader(state, route, name, value);
    }
  } else {
    const raw = req.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) addRequestHeader(state, route, raw[i] as string, raw[i + 1] as string);
  }
  const out = state.headers;
  const tokens = state.named;
  if (tokens !== null) removeHeaders(out, (name) => tokens.has(name));
  let hostSet = route.replacedHeaders.has("host");
  for (const [name, template] of route.setHeaders) {
    // Constant templates ignore their argument; the caller builds variables when any needs them.
    const value = template(variables as VariableSource);
    if (!template.isConstant && INVALID_VALUE.test(value)) {
      // nginx keeps $arg_* and captures raw; a value that cannot be a header is the client's doing.
      throw new ClientRequestError(`proxySetHeader ${name}: the value made from the request cannot be a header`);
    }
    if (value !== "") out.push(name, value);
    else if (name.toLowerCase() === "host") hostSet = false;
  }
  if (!hostSet) out.push("host", route.spec.proxyHost);
  return state;
}

export class BodyTooLarge extends Error {
  readonly code = "PTC_ERR_REQUEST_BODY_TOO_LARGE";
}

/** Counts a body of unknown length (chunked) and fails it past the limit, as client_max_body_size. */
export function limitBody(req: IncomingMessage, limit: number): Transform {
  let seen = 0;
  const guard = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      if (seen > limit) callback(new BodyTooLarge("request body exceeds clientMaxBodySize"));
      else callback(null, chunk);
    },
  });
  req.on("error", (error) => guard.destroy(error));
  return req.pipe(guard);
}
