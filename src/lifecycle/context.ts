/**
 * The request context: one object per request, shared by every phase. It is only built for
 * locations that have hooks or plugins; a plain proxy or `return` location never allocates it.
 */
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import { PorticoError } from "../errors.js";
import type { AccessRecord } from "../observability/record.js";
import type { RequestTarget } from "../upstream/route.js";

/** nginx's phases, in order: preaccess is where limit_req and limit_conn run, before authentication. */
export type Phase = "rewrite" | "preaccess" | "access" | "content" | "headerFilter" | "bodyFilter" | "log";
export const PHASES: readonly Phase[] = ["rewrite", "preaccess", "access", "content", "headerFilter", "bodyFilter", "log"];

/** What `ctx.exit()` returns: a hook that returns it stops the request with this answer. */
export interface Exit {
  readonly [EXIT]: true;
  readonly status: number;
  readonly body: unknown;
  readonly headers: OutgoingHttpHeaders | undefined;
}
const EXIT = Symbol("portico.exit");
export function isExit(value: unknown): value is Exit {
  return typeof value === "object" && value !== null && (value as Exit)[EXIT] === true;
}

export interface RequestView {
  readonly method: string;
  /** Path and query exactly as received. */
  readonly url: string;
  /** The normalised path (decoded, dot segments resolved) that locations were matched on. A rewrite hook may set it: the new path goes upstream whole, as after nginx's `rewrite … break`. */
  path: string;
  /**
   * The query. Changing the object in place changes nothing upstream; assigning one (in rewrite or
   * access) does: `const q = ctx.request.query; q.delete("apikey"); ctx.request.query = q;` sends
   * `q` upstream instead of the query as received.
   */
  query: URLSearchParams;
  /** Lower-case names. Changes made in rewrite/access go upstream. */
  readonly headers: IncomingHttpHeaders;
  /** The client address. */
  readonly ip: string;
  /** The body, read when first asked for (and then sent upstream from memory). */
  text(): Promise<string>;
  json<T = unknown>(): Promise<T>;
  arrayBuffer(): Promise<ArrayBuffer>;
}

export interface ResponseView {
  status: number;
  /** Lower-case names; values are strings or, for repeated headers such as set-cookie, arrays. */
  headers: OutgoingHttpHeaders;
}

export interface LocationInfo {
  /** The location key as written in the config, e.g. `/proxy` or `~* \.png$`. */
  readonly key: string;
  /** Regex captures, for `~` and `~*` locations. */
  readonly captures: readonly string[] | null;
}

export interface VirtualHostInfo {
  readonly name: string;
}

/** Who made the request, once an auth plugin (keyAuth, basicAuth, jwtAuth, openidConnect) has said so. */
export interface Consumer {
  /** The name under `consumers.` in the config, or the token's subject for OIDC/JWT users without one. */
  readonly name: string;
  readonly groups: readonly string[];
  /** Kong's custom_id: an id in another system, if the config gives one. */
  readonly customId?: string | undefined;
}

/** What every phase sees. */
export interface BaseContext {
  /** The authenticated consumer; null until an auth plugin has run (and on public locations). */
  readonly consumer: Consumer | null;
  /** The verified claims of the request's JWT (jwtAuth) or OIDC token (openidConnect); null otherwise. */
  readonly jwt: Readonly<Record<string, unknown>> | null;
  readonly request: RequestView;
  readonly vars: Readonly<Record<string, unknown>>;
  readonly store: Map<string, unknown>;
  readonly location: LocationInfo;
  readonly virtualHost: VirtualHostInfo;
  /** A short id for this request, in error answers and log lines. */
  readonly requestId: string;
}

/** rewrite, access and content: may stop the request with `ctx.exit()`. */
export interface RequestPhaseContext extends BaseContext {
  consumer: Consumer | null;
  jwt: Readonly<Record<string, unknown>> | null;
  readonly response: ResponseView;
  /** Stop the request with this answer: `return ctx.exit(401, { message: "No API key" })`. */
  exit(status: number, body?: unknown, headers?: OutgoingHttpHeaders): Exit;
}

/** headerFilter: the status and headers are settable; the request can no longer be stopped. */
export interface HeaderFilterContext extends BaseContext {
  readonly response: ResponseView;
}

/** bodyFilter: replace `ctx.chunk` to change the body; the status and headers are sent. */
export interface BodyFilterContext extends BaseContext {
  readonly response: Readonly<ResponseView>;
  chunk: Buffer | null;
  readonly eof: boolean;
}

/** log: everything, read-only; the response is sent. */
export interface LogContext extends BaseContext {
  readonly response: { readonly status: number; readonly headers: Readonly<OutgoingHttpHeaders> };
  /** The access log's record of this request (read-only): the same object the access log writes. */
  readonly log: Readonly<AccessRecord>;
}

/** The context of rewrite, access and content hooks, the common case. */
export type Context = RequestPhaseContext;

/** The whole context: one object per request, which each phase sees through its type above. */
export interface EngineContext extends RequestPhaseContext {
  log: AccessRecord;
  chunk: Buffer | null;
  eof: boolean;
}

/** A hook's value may be anything for content; other phases return nothing or an exit. */
// biome-ignore lint/suspicious/noConfusingVoidType: hooks that return nothing are the common case
export type HookResult = void | Exit | unknown;
type Hook<C> = (ctx: C) => HookResult | Promise<HookResult>;
export type RewriteHook = Hook<RequestPhaseContext>;
export type PreaccessHook = Hook<RequestPhaseContext>;
export type AccessHook = Hook<RequestPhaseContext>;
export type ContentHook = Hook<RequestPhaseContext>;
export type HeaderFilterHook = (ctx: HeaderFilterContext) => void | Promise<void>;
export type BodyFilterHook = (ctx: BodyFilterContext) => void | Promise<void>;
export type LogHook = (ctx: LogContext) => void | Promise<void>;
/** Any hook, as the engine calls it. */
export type HookFunction = Hook<EngineContext>;

export function createExit(status: number, body?: unknown, headers?: OutgoingHttpHeaders): Exit {
  return { [EXIT]: true, status, body, headers };
}

/** Reads a request body whole, refusing more than `limit` bytes (0 = no limit). */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (limit > 0 && size > limit) {
        req.removeAllListeners("data");
        req.resume();
        reject(new PorticoError("PTC_ERR_REQUEST_BODY_TOO_LARGE"));
        return;
      }
      chunks.push(chunk);
    });
    req.once("end", () => resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)));
    req.once("error", reject);
  });
}

/** What the lifecycle knows of a request when it builds its context. */
export interface ContextInit {
  plan: { readonly bodyLimit: number; readonly vars: Readonly<Record<string, unknown>>; readonly virtualHost: VirtualHostInfo };
  target: RequestTarget;
  ip: string;
  /** The plan's location info, with the regex captures of this request. */
  location: LocationInfo;
  requestId: string;
}

/** `ctx.request`: its methods live on the prototype, so a request allocates only this object. */
class RequestState implements RequestView {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly ip: string;
  readonly #ctx: RequestContext;
  readonly #rawQuery: string;
  readonly #bodyLimit: number;
  #path: string;
  #query: URLSearchParams | undefined;

  constructor(ctx: RequestContext, req: IncomingMessage, init: ContextInit) {
    this.method = req.method ?? "GET";
    this.url = req.url ?? "/";
    this.headers = req.headers;
    this.ip = init.ip;
    this.#ctx = ctx;
    this.#rawQuery = init.target.rawQuery;
    this.#bodyLimit = init.plan.bodyLimit;
    this.#path = init.target.path;
  }

  get path(): string {
    return this.#path;
  }

  set path(value: string) {
    if (typeof value !== "string" || !value.startsWith("/")) throw new TypeError(`ctx.request.path must start with "/", got ${JSON.stringify(value)}`);
    this.#path = value;
    this.#ctx.pathChanged = true;
  }

  get query(): URLSearchParams {
    this.#query ??= new URLSearchParams(this.#rawQuery);
    return this.#query;
  }

  set query(value: URLSearchParams) {
    if (!(value instanceof URLSearchParams)) throw new TypeError("ctx.request.query must be a URLSearchParams");
    this.#query = value;
    this.#ctx.queryChanged = true;
  }

  async #read(): Promise<Buffer> {
    const ctx = this.#ctx;
    ctx.body ??= await readBody(ctx.req, this.#bodyLimit);
    return ctx.body;
  }

  async text(): Promise<string> {
    return (await this.#read()).toString("utf8");
  }

  async json<T = unknown>(): Promise<T> {
    return JSON.parse((await this.#read()).toString("utf8")) as T;
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    const buf = await this.#read();
    return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
  }
}

/**
 * Makes `id` THE request id of this request: in ctx.requestId, error bodies, log lines and
 * $request_id. For the requestId plugin, in the rewrite phase (before anything has used the id).
 */
export function setRequestId(ctx: BaseContext, id: string): void {
  if (!(ctx instanceof RequestContext)) throw new TypeError("setRequestId needs the engine's request context");
  ctx.requestId = id;
}

/** Mutable state of one request behind the Context interface. */
export class RequestContext implements EngineContext {
  readonly request: RequestView;
  readonly response: ResponseView = { status: 200, headers: {} };
  readonly vars: Readonly<Record<string, unknown>>;
  readonly store = new Map<string, unknown>();
  readonly location: LocationInfo;
  readonly virtualHost: VirtualHostInfo;
  /** Settable only through setRequestId (the requestId plugin): hooks see it read-only. */
  requestId: string;
  consumer: Consumer | null = null;
  jwt: Readonly<Record<string, unknown>> | null = null;
  /** The access record: set at once when something observes requests, else when the log phase begins. */
  log!: AccessRecord;
  chunk: Buffer | null = null;
  eof = false;
  /** The body once a hook has read it: the proxy then sends this instead of the stream. */
  body: Buffer | null = null;
  /** Set when a rewrite hook changed request.path. */
  pathChanged = false;
  /** Set when a hook assigned request.query: its serialisation goes upstream. */
  queryChanged = false;
  /** The location's plan (a LocationPlan: fetchUpstream() reads its route; typed there, so that the Plan's types can name this one). */
  readonly plan: unknown;
  readonly target: RequestTarget;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;

  constructor(req: IncomingMessage, res: ServerResponse, init: ContextInit) {
    this.req = req;
    this.res = res;
    this.target = init.target;
    this.plan = init.plan;
    this.vars = init.plan.vars;
    this.location = init.location;
    this.virtualHost = init.plan.virtualHost;
    this.requestId = init.requestId;
    this.request = new RequestState(this, req, init);
  }

  exit(status: number, body?: unknown, headers?: OutgoingHttpHeaders): Exit {
    return createExit(status, body, headers);
  }
}
