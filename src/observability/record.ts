/**
 * The access record: one small object per request, filled by the code that already knows each
 * value (the lifecycle knows the location and the consumer, the upstream layer the upstream),
 * serialised once for the access log, read by metrics, live stats and the `log` hook (`ctx.log`).
 * It exists only while access logs, metrics or tracing are on.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Span } from "@opentelemetry/api";

/** What the access log writes and `ctx.log` shows, field for field. */
export class AccessRecord {
  /** ISO time at which the response ended. */
  time = "";
  requestId: string;
  /** The client address (trustedProxies-aware). */
  client: string;
  virtualHost = "";
  location = "";
  consumer: string | null = null;
  method: string;
  /** Path and query as received, with secret-looking query values redacted. */
  path: string;
  status = 0;
  /** Bytes read from the client for this request (request line, headers, body). */
  bytesIn = 0;
  /** Bytes written to the client (headers and body). */
  bytesOut = 0;
  upstream: string | null = null;
  upstreamStatus: number | null = null;
  /** From sending the request upstream to the last byte of its answer, in ms. */
  upstreamMs: number | null = null;
  /** From the request's arrival to the last byte sent, in ms. */
  durationMs = 0;
  /** X-Cache-Status of the response (HIT, MISS, …) when the location caches. */
  cache: string | null = null;
  traceId: string | null = null;

  constructor(requestId: string, client: string, method: string, path: string) {
    this.requestId = requestId;
    this.client = client;
    this.method = method;
    this.path = path;
  }
}

/** What one location's requests are counted under, bound once when the table is compiled. */
export interface LocationBinding {
  virtualHost: string;
  location: string;
  /** Whether X-Cache-Status is read from the response (the location has proxyCache). */
  readsCache: boolean;
  /** Metric children of this location (null without metrics). */
  metrics: unknown;
}

/** The per-request state around the record; hangs off the response under OBSERVED. */
export class Observation {
  readonly record: AccessRecord;
  readonly start: number;
  readonly req: IncomingMessage;
  /** Taken at the start: Node may detach it from the request by the end. */
  readonly socket: IncomingMessage["socket"] | null;
  loc: LocationBinding;
  /** The lifecycle's context: the consumer, and the request id (the requestId plugin may have replaced it). */
  ctx: { readonly consumer: { readonly name: string } | null; readonly requestId: string } | null = null;
  upstreamStart = 0;
  span: Span | null = null;
  /** The traceparent sent upstream (our span's id), when tracing is on. */
  traceparent: string | null = null;

  constructor(record: AccessRecord, start: number, req: IncomingMessage, loc: LocationBinding) {
    this.record = record;
    this.start = start;
    this.req = req;
    this.socket = req.socket ?? null;
    this.loc = loc;
  }
}

export const OBSERVED: unique symbol = Symbol("portico.observed");
export type ObservedResponse = ServerResponse & { [OBSERVED]?: Observation };

/** The observation of a response, or undefined when nothing observes requests. */
export function observationOf(res: ServerResponse): Observation | undefined {
  return (res as ObservedResponse)[OBSERVED];
}

/** The proxy sent the request to `address`. */
export function upstreamStarted(res: ServerResponse, address: string): void {
  const obs = (res as ObservedResponse)[OBSERVED];
  if (obs === undefined) return;
  obs.record.upstream = address;
  obs.upstreamStart = performance.now();
}

/** The upstream answered with `status` (headers received). */
export function upstreamAnswered(res: ServerResponse, status: number): void {
  const obs = (res as ObservedResponse)[OBSERVED];
  if (obs !== undefined) obs.record.upstreamStatus = status;
}

/** The upstream exchange ended (complete or failed). */
export function upstreamEnded(res: ServerResponse): void {
  const obs = (res as ObservedResponse)[OBSERVED];
  if (obs === undefined || obs.upstreamStart === 0) return;
  obs.record.upstreamMs = Math.round((performance.now() - obs.upstreamStart) * 1000) / 1000;
}

const SECRET_PARAM = /^(?:.*(?:key|token|secret|password|passwd|signature|sig|auth|session|code)|jwt)$/i;

/** Replaces the values of secret-looking query parameters (api_key, token, …) with "[REDACTED]". */
export function redactUrl(url: string): string {
  const q = url.indexOf("?");
  if (q < 0) return url;
  let changed = false;
  const parts = url
    .slice(q + 1)
    .split("&")
    .map((pair) => {
      const eq = pair.indexOf("=");
      if (eq < 0) return pair;
      let name = pair.slice(0, eq);
      try {
        name = decodeURIComponent(name);
      } catch {
        // keep the raw name
      }
      if (!SECRET_PARAM.test(name)) return pair;
      changed = true;
      return `${pair.slice(0, eq)}=[REDACTED]`;
    });
  return changed ? `${url.slice(0, q)}?${parts.join("&")}` : url;
}

/** A record from what the lifecycle knows, for `ctx.log` when nothing else observes requests. */
export function basicRecord(
  ctx: {
    requestId: string;
    consumer: { readonly name: string } | null;
    request: { ip: string; method: string; url: string };
    location: { key: string };
    virtualHost: { name: string };
  },
  res: ServerResponse,
): AccessRecord {
  const record = new AccessRecord(ctx.requestId, ctx.request.ip, ctx.request.method, redactUrl(ctx.request.url));
  record.time = new Date().toISOString();
  record.virtualHost = ctx.virtualHost.name;
  record.location = ctx.location.key;
  record.consumer = ctx.consumer?.name ?? null;
  record.status = res.headersSent ? res.statusCode : 499;
  return record;
}
