/**
 * The phase engine, for locations that have hooks or plugins: rewrite → access → content (or the
 * proxy, or `return`) → headerFilter → bodyFilter → (sent) → log. A hook stops the request by
 * returning `ctx.exit(…)`; a hook that throws is a bug: 500, a log line naming it, and the
 * gateway serves on.
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import { Readable } from "node:stream";
import type { Logger } from "pino";
import { PorticoError } from "../errors.js";
import { toHeaderList, toHeaderObject } from "../http/header-list.js";
import { nextRequestId, sendError, statusPage } from "../http/respond.js";
import type { VariableSource } from "../http/variables.js";
import { basicRecord, observationOf } from "../observability/record.js";
import { forward, type ProxyRoute, type RequestTarget } from "../upstream/forward.js";
import { type EngineContext, type HookResult, isExit, type LocationInfo, RequestContext, type VirtualHostInfo } from "./context.js";

export interface CompiledHook {
  /** Who this is in logs: `plugin keyAuth` or `location "/x" access (./x.js)`. */
  label: string;
  run: (ctx: EngineContext) => HookResult | Promise<HookResult>;
}

export interface PhaseChains {
  rewrite: CompiledHook[];
  preaccess: CompiledHook[];
  access: CompiledHook[];
  content: CompiledHook[];
  headerFilter: CompiledHook[];
  bodyFilter: CompiledHook[];
  log: CompiledHook[];
}

/** A response the gateway produces itself (content or return), before the header filters. */
interface OwnResponse {
  status: number;
  headers: OutgoingHttpHeaders;
  body: Buffer | Readable | null;
}

export type ReturnRenderer = (variables: VariableSource | null) => { status: number; headers: OutgoingHttpHeaders; body: Buffer };

export interface PhasedLocation {
  chains: PhaseChains;
  proxy: ProxyRoute | null;
  render: ReturnRenderer | null;
  defaultType: string;
  bodyLimit: number;
  vars: Readonly<Record<string, unknown>>;
  location: LocationInfo;
  virtualHost: VirtualHostInfo;
  logger: Logger;
  finishHeaders: (status: number, headers: string[]) => void;
  variables: (req: IncomingMessage, target: RequestTarget, captures: readonly string[] | null, requestId: string) => VariableSource;
  /** The client address (trustedProxies), for ctx.request.ip. */
  clientAddress: (req: IncomingMessage) => string;
}

class HookError extends Error {
  readonly hook: string;
  readonly original: unknown;
  constructor(hook: string, original: unknown) {
    super(`hook ${hook} threw`, { cause: original });
    this.hook = hook;
    this.original = original;
  }
}

/** Runs a chain; stays synchronous while the hooks are. Returns the first exit (or content value). */
function runChain(chain: CompiledHook[], ctx: EngineContext, stopOnValue: boolean, from = 0): HookResult | Promise<HookResult> {
  for (let i = from; i < chain.length; i++) {
    const hook = chain[i] as CompiledHook;
    let result: HookResult | Promise<HookResult>;
    try {
      result = hook.run(ctx);
    } catch (error) {
      throw new HookError(hook.label, error);
    }
    if (result instanceof Promise) {
      return result.then(
        (value) => (isExit(value) || (stopOnValue && value !== undefined) ? value : runChain(chain, ctx, stopOnValue, i + 1)),
        (error: unknown) => {
          throw new HookError(hook.label, error);
        },
      );
    }
    if (isExit(result) || (stopOnValue && result !== undefined)) return result;
  }
  return undefined;
}

function contentTypeOf(headers: OutgoingHttpHeaders): boolean {
  return headers["content-type"] !== undefined;
}

/** What a content hook or an exit returned, as a response. */
async function toResponse(value: unknown, status: number, headers: OutgoingHttpHeaders, defaultType: string): Promise<OwnResponse> {
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
    if (!contentTypeOf(headers)) headers["content-type"] = defaultType;
    // A Buffer is sent as it is (a cache's stored body is not copied per answer).
    return { status, headers, body: typeof value === "string" ? Buffer.from(value) : Buffer.isBuffer(value) ? value : Buffer.from(value as Uint8Array) };
  }
  if (value instanceof Readable) {
    if (!contentTypeOf(headers)) headers["content-type"] = defaultType;
    return { status, headers, body: value };
  }
  // A JSON-able value: sent with a trailing newline, as ngx.say does.
  if (!contentTypeOf(headers)) headers["content-type"] = "application/json";
  return { status, headers, body: Buffer.from(`${JSON.stringify(value)}\n`) };
}

async function exitResponse(exit: { status: number; body: unknown; headers: OutgoingHttpHeaders | undefined }): Promise<OwnResponse> {
  const headers: OutgoingHttpHeaders = { ...exit.headers };
  if (exit.body === undefined) {
    headers["content-type"] ??= "text/html";
    return { status: exit.status, headers, body: Buffer.from(statusPage(exit.status)) };
  }
  return toResponse(exit.body, exit.status, headers, "text/plain");
}

/** Sends a response of our own through headerFilter and bodyFilter. */
async function send(loc: PhasedLocation, ctx: RequestContext, res: ServerResponse, own: OwnResponse): Promise<void> {
  // Headers that rewrite/access hooks set on ctx.response go out with the answer (the proxy does the same).
  const early = ctx.response.headers;
  if (early !== own.headers) for (const name in early) if (own.headers[name] === undefined) own.headers[name] = early[name];
  ctx.response.status = own.status;
  ctx.response.headers = own.headers;
  if (loc.chains.headerFilter.length > 0) await runChain(loc.chains.headerFilter, ctx, false);
  const { status, headers } = ctx.response;
  const filters = loc.chains.bodyFilter;
  let body = own.body;
  if (filters.length > 0) {
    delete headers["content-length"];
    if (!(body instanceof Readable)) body = await filterChunk(filters, ctx, body, true);
  }
  const list = toHeaderList(headers);
  if (!(body instanceof Readable)) {
    // RFC 9110 8.6: no Content-Length on a 204 (nor a made-up one on a 304).
    if (headers["content-length"] === undefined && status !== 204 && status !== 304) list.push("content-length", String(body?.length ?? 0));
    loc.finishHeaders(status, list);
    res.writeHead(status, list);
    res.end(body ?? undefined);
    return;
  }
  loc.finishHeaders(status, list);
  // The head waits for the first bytes, so that a body filter that throws on the first chunk still gets a clean 500.
  let headSent = false;
  const sendHead = () => {
    if (headSent) return;
    headSent = true;
    res.writeHead(status, list);
  };
  for await (const chunk of body) {
    const out = filters.length > 0 ? await filterChunk(filters, ctx, Buffer.from(chunk as Uint8Array), false) : (chunk as Buffer);
    if (out && out.length > 0) {
      sendHead();
      if (!res.write(out)) await new Promise((resolve) => res.once("drain", resolve));
    }
    if (res.destroyed) return;
  }
  const last = filters.length > 0 ? await filterChunk(filters, ctx, null, true) : null;
  sendHead();
  res.end(last ?? undefined);
}

/** Runs the body filters on one chunk; stays synchronous while they are. */
function filterChunk(filters: CompiledHook[], ctx: RequestContext, chunk: Buffer | null, eof: boolean): Buffer | null | Promise<Buffer | null> {
  ctx.chunk = chunk;
  ctx.eof = eof;
  const done = runChain(filters, ctx, false);
  const take = (): Buffer | null => {
    const out = ctx.chunk as Buffer | string | null;
    return typeof out === "string" ? Buffer.from(out) : out;
  };
  return done instanceof Promise ? done.then(take) : take();
}

function fail(loc: PhasedLocation, ctx: RequestContext, res: ServerResponse, error: unknown): void {
  // A hook that reads a body past clientMaxBodySize: the client's fault (413), not the hook's.
  const tooLarge = error instanceof HookError ? error.original : error;
  if (tooLarge instanceof PorticoError && tooLarge.code === "PTC_ERR_REQUEST_BODY_TOO_LARGE") {
    loc.logger.info({ code: tooLarge.code, requestId: ctx.requestId, location: loc.location.key }, "request body too large");
    sendError(res, tooLarge.code, ctx.requestId);
    return;
  }
  const hook = error instanceof HookError ? error.hook : "phase engine";
  const cause = error instanceof HookError ? error.original : error;
  loc.logger.error(
    { code: "PTC_ERR_HOOK_FAILED", requestId: ctx.requestId, hook, location: loc.location.key, virtualHost: loc.virtualHost.name, err: cause },
    `hook ${hook} threw: ${(cause as Error)?.message ?? String(cause)}`,
  );
  sendError(res, "PTC_ERR_HOOK_FAILED", ctx.requestId);
}

function runLog(loc: PhasedLocation, ctx: RequestContext, res: ServerResponse): void {
  // Without access log or metrics, the record is made here, from what the engine knows (no timings).
  ctx.log ??= basicRecord(ctx, res);
  const done = (error: unknown) => {
    if (error === undefined) return;
    const hook = error instanceof HookError ? error.hook : "log";
    loc.logger.error(
      { code: "PTC_ERR_HOOK_FAILED", requestId: ctx.requestId, hook, err: error instanceof HookError ? error.original : error },
      `hook ${hook} threw`,
    );
  };
  try {
    const result = runChain(loc.chains.log, ctx, false);
    if (result instanceof Promise) result.then(() => undefined, done);
  } catch (error) {
    done(error);
  }
}

function hasAny(headers: OutgoingHttpHeaders): boolean {
  for (const _ in headers) return true;
  return false;
}

/** Entry point of the engine for one request. */
export async function runPhases(
  loc: PhasedLocation,
  req: IncomingMessage,
  res: ServerResponse,
  target: RequestTarget,
  captures: readonly string[] | null,
  /** A WebSocket upgrade (proxyWebsockets): once rewrite and access let it through, it opens the tunnel instead of content or proxy. */
  upgrade?: (ctx: RequestContext) => void,
): Promise<void> {
  const observed = observationOf(res);
  const requestId = observed?.record.requestId ?? nextRequestId();
  const ctx = new RequestContext(req, {
    path: target.path,
    rawQuery: target.rawQuery,
    ip: loc.clientAddress(req),
    vars: loc.vars,
    location: captures ? { key: loc.location.key, captures } : loc.location,
    virtualHost: loc.virtualHost,
    requestId,
    bodyLimit: loc.bodyLimit,
  });
  if (observed !== undefined) {
    observed.ctx = ctx;
    ctx.log = observed.record;
  }
  // For fetchUpstream() (src/pipeline/upstream.ts): a content hook on a proxyPass location may make the upstream request itself.
  if (loc.proxy !== null) {
    ctx.phased = loc;
    ctx.target = target;
  }
  if (loc.chains.log.length > 0) res.once("close", () => runLog(loc, ctx, res));
  try {
    const chains = loc.chains;
    for (const chain of [chains.rewrite, chains.preaccess, chains.access]) {
      if (chain.length === 0) continue;
      const result = await runChain(chain, ctx, false);
      if (isExit(result)) return await send(loc, ctx, res, await exitResponse(result));
    }
    if (upgrade !== undefined) return upgrade(ctx);

    if (chains.content.length > 0) {
      const value = await runChain(chains.content, ctx, true);
      // Where the location answers itself (proxyPass, return), content hooks come from plugins: no value lets it answer.
      if (value !== undefined || (loc.proxy === null && loc.render === null)) {
        const own = isExit(value) ? await exitResponse(value) : await toResponse(value, ctx.response.status, ctx.response.headers, loc.defaultType);
        return await send(loc, ctx, res, own);
      }
    }
    if (loc.render) {
      const variables = loc.variables(req, { ...target, path: ctx.request.path }, captures, ctx.requestId);
      const own = loc.render(variables);
      // Hooks see lower-case names (and send() then finds the Content-Length it must not repeat).
      return await send(loc, ctx, res, { ...own, headers: toHeaderObject(toHeaderList(own.headers)) });
    }
    if (loc.proxy) {
      const headerFilter = chains.headerFilter;
      const bodyFilter = chains.bodyFilter;
      forward(
        req,
        res,
        loc.proxy,
        target,
        {
          body: ctx.body,
          headers: req.headers,
          path: ctx.request.path,
          pathChanged: ctx.pathChanged,
          query: ctx.queryChanged ? ctx.request.query.toString() : null,
          requestId: ctx.requestId,
          addHeaders: hasAny(ctx.response.headers) ? toHeaderList(ctx.response.headers) : null,
          onHeaders:
            headerFilter.length === 0
              ? null
              : (status, headers) => {
                  ctx.response.status = status;
                  ctx.response.headers = headers;
                  const done = runChain(headerFilter, ctx, false);
                  return done instanceof Promise ? done.then(() => ctx.response) : ctx.response;
                },
          onChunk: bodyFilter.length === 0 ? null : (chunk, eof) => filterChunk(bodyFilter, ctx, chunk, eof),
          onFailure: (error) => fail(loc, ctx, res, error),
          consumer: ctx.consumer?.name ?? null,
        },
        loc.proxy.setHeadersNeedVars ? loc.variables(req, target, captures, ctx.requestId) : null,
      );
    }
  } catch (error) {
    fail(loc, ctx, res, error);
  }
}
