/**
 * Answers the gateway makes itself (a content hook's value, an exit, `return`) through the
 * headerFilter and bodyFilter steps, then out: a whole body in one write, a stream piped with
 * backpressure (the head held until the first filtered bytes, so that a filter that throws on
 * the first chunk still gets a clean 500).
 */
import type { OutgoingHttpHeaders, ServerResponse } from "node:http";
import { Readable } from "node:stream";
import type { LocationPlan } from "../compile/plan.js";
import { removeHeaders, toHeaderList } from "../http/header-list.js";
import { rawHeader } from "../http/hop-headers.js";
import { statusPage } from "../http/respond.js";
import type { Exit, RequestContext } from "./context.js";
import { bodyFilterStep, headerFilterStep } from "./filters.js";

/** A response of the gateway's own, before the header filters. */
export interface OwnResponse {
  status: number;
  headers: OutgoingHttpHeaders;
  body: Buffer | Readable | null;
}

/** What a content hook returned (or an exit's body), as a response. */
export function toResponse(value: unknown, status: number, headers: OutgoingHttpHeaders, defaultType: string): OwnResponse {
  if (value instanceof Response) {
    const out: OutgoingHttpHeaders = { ...headers };
    value.headers.forEach((v, k) => {
      out[k] = v;
    });
    const setCookies = value.headers.getSetCookie();
    if (setCookies.length > 0) out["set-cookie"] = setCookies;
    const body = value.body ? Readable.fromWeb(value.body as import("node:stream/web").ReadableStream) : null;
    return { status: value.status, headers: out, body };
  }
  if (value === undefined || value === null) return { status, headers, body: null };
  if (typeof value === "string" || Buffer.isBuffer(value) || value instanceof Uint8Array) {
    headers["content-type"] ??= defaultType;
    // A Buffer is sent as it is (a cache's stored body is not copied per answer).
    return { status, headers, body: typeof value === "string" ? Buffer.from(value) : Buffer.isBuffer(value) ? value : Buffer.from(value as Uint8Array) };
  }
  if (value instanceof Readable) {
    headers["content-type"] ??= defaultType;
    return { status, headers, body: value };
  }
  // A JSON-able value: sent with a trailing newline, as ngx.say does.
  headers["content-type"] ??= "application/json";
  return { status, headers, body: Buffer.from(`${JSON.stringify(value)}\n`) };
}

/** `ctx.exit(status, body?, headers?)` as a response: nginx's status page when there is no body. */
export function exitResponse(exit: Exit): OwnResponse {
  const headers: OutgoingHttpHeaders = { ...exit.headers };
  if (exit.body === undefined) {
    headers["content-type"] ??= "text/html";
    return { status: exit.status, headers, body: Buffer.from(statusPage(exit.status)) };
  }
  return toResponse(exit.body, exit.status, headers, "text/plain");
}

/** The send step for an answer of our own: header filters, body filters, out. */
export async function send(loc: LocationPlan, ctx: RequestContext, res: ServerResponse, own: OwnResponse): Promise<void> {
  // Headers that rewrite/access hooks set on ctx.response go out with the answer (the proxy does the same).
  const early = ctx.response.headers;
  if (early !== own.headers) for (const name in early) if (own.headers[name] === undefined) own.headers[name] = early[name];
  const phases = loc.phases;
  const bodyFilters = phases?.bodyFilter ?? null;
  let body = own.body;
  let list = toHeaderList(own.headers);
  ctx.response.headers = own.headers;
  const filtered = await headerFilterStep(phases?.headerFilter ?? null, ctx, own.status, list);
  const status = filtered.status;
  list = filtered.headers;
  if (bodyFilters !== null) {
    // A body filter may change the length: sent chunked instead (nginx users clear it by hand).
    removeHeaders(list, isContentLength);
    if (!(body instanceof Readable)) body = await bodyFilterStep(bodyFilters, ctx, body, true);
  }
  if (!(body instanceof Readable)) {
    // RFC 9110 8.6: no Content-Length on a 204 (nor a made-up one on a 304).
    if (rawHeader(list, "content-length") === undefined && status !== 204 && status !== 304) list.push("content-length", String(body?.length ?? 0));
    loc.finishHeaders(status, list);
    res.writeHead(status, list);
    res.end(body ?? undefined);
    return;
  }
  loc.finishHeaders(status, list);
  let headSent = false;
  const sendHead = () => {
    if (headSent) return;
    headSent = true;
    res.writeHead(status, list);
  };
  for await (const chunk of body) {
    const out = bodyFilters !== null ? await bodyFilterStep(bodyFilters, ctx, Buffer.from(chunk as Uint8Array), false) : (chunk as Buffer);
    if (out && out.length > 0) {
      sendHead();
      if (!res.write(out)) await new Promise((resolve) => res.once("drain", resolve));
    }
    if (res.destroyed) return;
  }
  const last = bodyFilters !== null ? await bodyFilterStep(bodyFilters, ctx, null, true) : null;
  sendHead();
  res.end(last ?? undefined);
}

const isContentLength = (name: string) => name === "content-length";
