/**
 * The proxy: a location's request to its upstream group, streamed both ways. The request is built
 * by request.ts, sent and accounted by one Exchange; the answer goes straight to the client or,
 * where the location filters it, to the lifecycle's sink.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Dispatcher } from "undici";
import { removeHeaders } from "../http/header-list.js";
import type { VariableSource } from "../http/variables.js";
import { observationOf } from "../observability/record.js";
import { classify, NO_LIVE_UPSTREAMS } from "./classify.js";
import { Exchange, type ExchangeExit, type ExchangeInfo, type ResponseSink } from "./exchange.js";
import { BodyTooLarge, hashKeyOf, limitBody, type RequestEdits, requestHeaders, targetPath } from "./request.js";
import type { ProxyRoute, RequestTarget } from "./route.js";

export type { ExchangeExit, ExchangeInfo, ProxyRoute, RequestEdits, RequestTarget, ResponseSink };
export { Exchange };

const isContentLength = (name: string) => name === "content-length";
const isTraceparent = (name: string) => name === "traceparent";

/** Whether the client is gone already (it hung up while a phase waited): nothing is sent upstream then. */
export function clientGone(req: IncomingMessage, res: ServerResponse): boolean {
  return res.destroyed || req.destroyed || res.closed;
}

/**
 * Sends the request to one server of the route and streams the answer back. `edits` are what the
 * phases changed (null without phases); failures go to `sink.fail`, or to `exit` without a sink.
 */
export function forward(
  req: IncomingMessage,
  res: ServerResponse,
  route: ProxyRoute,
  target: RequestTarget,
  edits: RequestEdits | null,
  variables: VariableSource | null,
  requestId: string,
  sink: ResponseSink | null,
  exit: ExchangeExit,
): void {
  if (clientGone(req, res)) return;
  const method = req.method ?? "GET";
  const key = hashKeyOf(route, edits, variables);
  const server = route.pick(null, key);
  let built: ReturnType<typeof requestHeaders> | null = null;
  let buildError: unknown = null;
  try {
    built = requestHeaders(req, route, edits?.headers ?? null, variables);
  } catch (error) {
    buildError = error;
  }
  if (server === null || built === null) {
    // No server to take it (nginx "no live upstreams"), or a request that cannot be sent (the client's).
    if (!edits?.body) req.resume();
    const failure = built === null ? classify(buildError) : NO_LIVE_UPSTREAMS;
    const stand: ExchangeInfo = { req, res, route, method, requestId, server: null, started: false };
    const error = buildError ?? new Error(failure.message);
    if (sink !== null) sink.fail(stand, error, failure);
    else exit(stand, error, failure);
    return;
  }
  const { headers, contentLength, chunked } = built;
  const traceparent = observationOf(res)?.traceparent;
  if (traceparent) {
    // W3C Trace Context: the upstream's parent is our span, not the client's.
    removeHeaders(headers, isTraceparent);
    headers.push("traceparent", traceparent);
  }
  const exchange = new Exchange(req, res, route, server, method, requestId, sink, exit);
  exchange.key = key;

  let body: Dispatcher.DispatchOptions["body"] = null;
  if (edits?.body) {
    body = edits.body;
    removeHeaders(headers, isContentLength);
    headers.push("content-length", String(edits.body.length));
  } else if (contentLength > 0 || chunked) {
    if (route.bodyLimit > 0 && contentLength > route.bodyLimit) {
      req.resume();
      exchange.refuse(new BodyTooLarge("request body exceeds clientMaxBodySize"));
      return;
    }
    body = chunked && route.bodyLimit > 0 ? limitBody(req, route.bodyLimit) : req;
  }
  exchange.dispatch(
    {
      path: targetPath(route, target, edits),
      method: method as Dispatcher.HttpMethod,
      headers,
      body,
      headersTimeout: route.headersTimeout,
      bodyTimeout: route.bodyTimeout,
    },
    body !== null && !Buffer.isBuffer(body) ? (body as NodeJS.ReadableStream) : null,
  );
}
