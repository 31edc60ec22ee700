/**
 * The proxy itself: one undici dispatch per request, bodies streamed both ways with backpressure,
 * headers copied from Node's raw lists without building objects. The handler uses undici's
 * raw-header handler interface so that no header object is parsed on the way back either.
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import { Transform } from "node:stream";
import { type Dispatcher, errors } from "undici";
import type { ErrorCode } from "../errors.js";
import { removeHeaders, toHeaderList, toHeaderObject } from "../http/header-list.js";
import { connectionTokens, dropRequestHeader, dropResponseHeader } from "../http/hop-headers.js";
import { nextRequestId, sendError } from "../http/respond.js";
import type { VariableSource } from "../http/variables.js";
import { observationOf, upstreamAnswered, upstreamEnded, upstreamStarted } from "../observability/record.js";
import { beginAttempt, endAttempt, OUTCOME_FAILED, OUTCOME_NEUTRAL, OUTCOME_OK, type Outcome } from "./health.js";
import { PRECISE_TIMEOUT_BELOW_MS, type UpstreamServer } from "./pools.js";
import { upstreamPath } from "./proxy-pass.js";
import type { ProxyRoute, RequestTarget } from "./route.js";

export type { ProxyRoute, RequestTarget };

/** What the phase engine plugs into a proxied response; absent on plain proxy locations. */
export interface ProxyHooks {
  /** Body already read by a hook: sent instead of the stream. */
  body: Buffer | null;
  /** Headers as changed by rewrite/access hooks. */
  headers: IncomingMessage["headers"] | null;
  path: string;
  pathChanged: boolean;
  /** The query to send upstream instead of the received one (a hook assigned ctx.request.query), or null/absent. */
  query?: string | null;
  /** The request's id (the phase engine's, or the requestId plugin's), for error bodies and logs. */
  requestId: string;
  /** Headers that rewrite/access hooks set on ctx.response (nginx add_header), set on the upstream's answer; null for none. */
  addHeaders?: string[] | null;
  /** Runs headerFilter: may change status and headers; a promise pauses the upstream. */
  onHeaders:
    | ((
        status: number,
        headers: OutgoingHttpHeaders,
      ) => { status: number; headers: OutgoingHttpHeaders } | Promise<{ status: number; headers: OutgoingHttpHeaders }>)
    | null;
  /** Runs bodyFilter on each chunk (null chunk + eof at the end). */
  onChunk: ((chunk: Buffer | null, eof: boolean) => Buffer | null | Promise<Buffer | null>) | null;
  onFailure: (error: unknown) => void;
  /** The authenticated consumer's name, for `hashKey: consumer`. */
  consumer?: string | null;
}

/** OpenSSL's verification failures (Node's err.code), and a name that does not match the certificate. */
const UPSTREAM_TLS_FAILURE =
  /^(ERR_TLS_CERT_ALTNAME_INVALID|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_|CERT_|ERR_SSL_|HOSTNAME_MISMATCH)/;

export function errorCode(error: unknown): ErrorCode {
  const code = (error as { code?: string }).code;
  if (code === "UND_ERR_CONNECT_TIMEOUT" || code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT" || code === "ETIMEDOUT") {
    return "PTC_ERR_UPSTREAM_TIMEOUT";
  }
  if (code === "PTC_ERR_REQUEST_BODY_TOO_LARGE") return "PTC_ERR_REQUEST_BODY_TOO_LARGE";
  if (code === SEND_TIMEOUT) return "PTC_ERR_UPSTREAM_TIMEOUT";
  if (code === "UND_ERR_REQ_CONTENT_LENGTH_MISMATCH") return "PTC_ERR_REQUEST_MALFORMED";
  if (code !== undefined && UPSTREAM_TLS_FAILURE.test(code)) return "PTC_ERR_UPSTREAM_TLS";
  return "PTC_ERR_UPSTREAM_UNAVAILABLE";
}

/** nginx: requests with these methods are not passed to the next server once sent (unless non_idempotent). */
const NON_IDEMPOTENT = new Set(["POST", "PATCH", "LOCK", "CONNECT"]);

/** Which proxyNextUpstream case an error of an attempt is: "error", "timeout", or null when the upstream is not to blame. */
function failureKind(error: unknown): "error" | "timeout" | null {
  const code = (error as { code?: string }).code;
  if (code === "PTC_ERR_REQUEST_BODY_TOO_LARGE" || code === "UND_ERR_REQ_CONTENT_LENGTH_MISMATCH") return null;
  if (
    code === "UND_ERR_CONNECT_TIMEOUT" ||
    code === "UND_ERR_HEADERS_TIMEOUT" ||
    code === "UND_ERR_BODY_TIMEOUT" ||
    code === "ETIMEDOUT" ||
    code === SEND_TIMEOUT
  ) {
    return "timeout";
  }
  return "error";
}

/** Aborts an attempt whose status proxyNextUpstream lists, to pass the request on. */
class NextUpstreamStatus extends Error {}

function isPrecise(timeout: number): boolean {
  return timeout > 0 && timeout < PRECISE_TIMEOUT_BELOW_MS;
}

const isContentLength = (name: string) => name === "content-length";
const isTraceparent = (name: string) => name === "traceparent";

const SEND_TIMEOUT = "PTC_UPSTREAM_SEND_TIMEOUT";

class SendTimeout extends Error {
  readonly code = SEND_TIMEOUT;
}

/**
 * nginx's proxy_send_timeout: the time between two writes of the body to the upstream. undici
 * pauses the body stream while the upstream socket is full and resumes it on drain, so a pause
 * that lasts longer than `timeout` is an upstream that stopped reading (a slow client, who merely
 * sends nothing, never pauses the stream).
 */
function watchSend(body: NodeJS.ReadableStream, timeout: number, onTimeout: () => void): () => void {
  let timer: NodeJS.Timeout | null = null;
  const clear = () => {
    if (timer !== null) clearTimeout(timer);
    timer = null;
  };
  const arm = () => {
    clear();
    timer = setTimeout(onTimeout, timeout);
  };
  body.on("pause", arm);
  body.on("resume", clear);
  body.once("end", clear);
  body.once("close", clear);
  // Stops watching once the exchange is over (the upstream may answer before reading it all).
  return () => {
    clear();
    body.off("pause", arm);
  };
}

class BodyTooLarge extends Error {
  readonly code = "PTC_ERR_REQUEST_BODY_TOO_LARGE";
}

/** Counts a body of unknown length (chunked) and fails it past the limit, as client_max_body_size. */
function limitBody(req: IncomingMessage, limit: number): Transform {
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

/** The request headers for the upstream, and what the proxy needs to know of the body. */
interface UpstreamRequestHeaders {
  headers: string[];
  contentLength: number;
  chunked: boolean;
  /** Names listed in the client's Connection headers (RFC 9110 7.6.1: not forwarded). */
  named: Set<string> | null;
}

function addRequestHeader(state: UpstreamRequestHeaders, route: ProxyRoute, name: string, value: string): void {
  const lower = name.toLowerCase();
  if (lower === "content-length") state.contentLength = Number(value);
  else if (lower === "transfer-encoding") state.chunked = true;
  else if (lower === "connection") state.named = connectionTokens(value, state.named);
  if (dropRequestHeader(lower) || route.replacedHeaders.has(lower)) return;
  state.headers.push(name, value);
}

/** Builds the upstream header list from the client's raw headers (or the hook-edited object). */
export function requestHeaders(
  req: IncomingMessage,
  route: ProxyRoute,
  edited: IncomingMessage["headers"] | null,
  variables: VariableSource | null,
): UpstreamRequestHeaders {
  const state: UpstreamRequestHeaders = { headers: [], contentLength: -1, chunked: false, named: null };
  if (edited) {
    for (const [name, value] of Object.entries(edited)) {
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
    if (value !== "") out.push(name, value);
    else if (name.toLowerCase() === "host") hostSet = false;
  }
  if (!hostSet) out.push("host", route.spec.proxyHost);
  return state;
}

/** Sets each header of `add` (a flat list) on `headers`, replacing the upstream's value of that name. */
function setHeaders(headers: string[], add: readonly string[]): void {
  for (let i = 0; i < add.length; i += 2) {
    const name = (add[i] as string).toLowerCase();
    removeHeaders(headers, (other) => other === name);
  }
  for (const item of add) headers.push(item);
}

/** Copies the upstream's raw headers for the client, dropping hop-by-hop, Server and Date. */
function responseHeaders(raw: Buffer[]): string[] {
  const out: string[] = [];
  let named: Set<string> | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as Buffer).toString("latin1");
    const lower = name.toLowerCase();
    if (lower === "connection") named = connectionTokens((raw[i + 1] as Buffer).toString("latin1"), named);
    if (dropResponseHeader(lower)) continue;
    out.push(name, (raw[i + 1] as Buffer).toString("latin1"));
  }
  if (named !== null) {
    const tokens: Set<string> = named;
    removeHeaders(out, (name) => tokens.has(name));
  }
  return out;
}

/** undici's raw-header handler: one per proxied request. */
class ForwardHandler implements Dispatcher.DispatchHandler {
  #abort: ((reason?: Error) => void) | null = null;
  #resume: (() => void) | null = null;
  #clientGone = false;
  #connected = false;
  #started = false;
  #tried: Set<UpstreamServer> | null = null;
  /** Attempts so far, and when the first began (only when proxyNextUpstreamTimeout is set). */
  #tries = 1;
  #firstAt = 0;
  /** Whether the current attempt still counts in its server's in-flight requests. */
  #attemptOpen = false;
  /** The current attempt's outcome by its status, reported to passive health when it ends. */
  #outcome: Outcome = OUTCOME_OK;
  /** Set when an attempt is aborted on its status to go to this server. */
  #retryTo: UpstreamServer | null = null;
  /** The hash key of the request ("" when the method is not hash). */
  key = "";
  #hookError = false;
  #stopSendWatch: (() => void) | null = null;
  /** Status and headers waiting for the first body-filtered bytes (see #writeHead). */
  #head: { status: number; headers: string[] } | null = null;
  /** Sub-second proxyReadTimeout, kept on a native timer (0: undici's own timeouts suffice). */
  readonly #headersTimeout: number;
  readonly #bodyTimeout: number;
  #timer: NodeJS.Timeout | null = null;
  /** Whether the body is a stream, sent after onConnect (else the request is sent at once). */
  #streamed = false;
  readonly #onResume = () => {
    this.#arm();
    this.#resume?.();
  };

  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly route: ProxyRoute;
  /** The server of the current attempt. */
  server: UpstreamServer;
  readonly hooks: ProxyHooks | null;
  readonly method: string;
  /** What is dispatched, the same for every attempt. */
  options: Dispatcher.DispatchOptions | null = null;

  constructor(req: IncomingMessage, res: ServerResponse, route: ProxyRoute, server: UpstreamServer, hooks: ProxyHooks | null, method: string) {
    this.req = req;
    this.res = res;
    this.route = route;
    this.server = server;
    this.hooks = hooks;
    this.method = method;
    this.#headersTimeout = isPrecise(route.headersTimeout) ? route.headersTimeout : 0;
    this.#bodyTimeout = isPrecise(route.bodyTimeout) ? route.bodyTimeout : 0;
    res.once("close", () => {
      if (res.writableFinished) return;
      // The client hung up before the end: stop the upstream request too.
      this.#clientGone = true;
      this.#abort?.(new Error("client closed the connection"));
    });
  }

  /** Sends the request; a streamed body arms the read timeout once it has been sent whole. */
  dispatch(options: Dispatcher.DispatchOptions, stream: NodeJS.ReadableStream | null): void {
    this.options = options;
    this.#streamed = stream !== null;
    if (stream && this.route.sendTimeout > 0) {
      this.#stopSendWatch = watchSend(stream, this.route.sendTimeout, () => this.#abort?.(new SendTimeout("the upstream stopped reading the request body")));
    }
    if (stream && this.#headersTimeout > 0) {
      stream.once("end", () => {
        if (!this.#started) this.#arm();
      });
    }
    if (this.route.nextUpstream.timeLimit > 0) this.#firstAt = Date.now();
    upstreamStarted(this.res, this.server.address);
    beginAttempt(this.server);
    this.#attemptOpen = true;
    this.server.pool.dispatch(options, this);
  }

  /** Ends the current attempt for passive health, the breaker and leastConn (once). */
  #release(outcome: Outcome): void {
    if (!this.#attemptOpen) return;
    this.#attemptOpen = false;
    endAttempt(this.server, outcome);
  }

  /**
   * Whether proxyNextUpstream lets this request go to another server after `kind`: the case is
   * listed; once sent, only an idempotent method (or non_idempotent) whose body can be sent again
   * (none, or read into memory: a streamed body has flowed); within the tries and the time limit.
   */
  #nextServer(kind: "error" | "timeout" | "status", sent: boolean): UpstreamServer | null {
    const rule = this.route.nextUpstream;
    if ((kind === "error" && !rule.error) || (kind === "timeout" && !rule.timeout)) return null;
    if (sent && ((!rule.nonIdempotent && NON_IDEMPOTENT.has(this.method)) || this.#streamed)) return null;
    if (rule.tries > 0 && this.#tries >= rule.tries) return null;
    if (rule.timeLimit > 0 && Date.now() - this.#firstAt >= rule.timeLimit) return null;
    if (!this.options || this.#clientGone) return null;
    this.#tried ??= new Set([this.server]);
    return this.route.pick(this.#tried, this.key);
  }

  /** Sends the same request to `next` (out of undici's callbacks first). */
  #redispatch(next: UpstreamServer, reason: string, why: { code?: string; message?: string; status?: number }): void {
    this.route.logger.warn({ code: "PTC_ERR_UPSTREAM_UNAVAILABLE", upstream: this.server.address, next: next.address, err: why }, reason);
    (this.#tried as Set<UpstreamServer>).add(next);
    this.#tries++;
    this.server = next;
    this.#connected = false;
    this.#abort = null;
    this.#outcome = OUTCOME_OK;
    const options = this.options as Dispatcher.DispatchOptions;
    queueMicrotask(() => {
      if (this.#clientGone) return;
      upstreamStarted(this.res, next.address);
      beginAttempt(next);
      this.#attemptOpen = true;
      next.pool.dispatch(options, this);
    });
  }

  /**
   * The precise read timeout (nginx proxy_read_timeout): from the request sent to the headers,
   * then between two reads of the body; it does not run while the client holds the body back.
   * undici keeps its own, coarser timers as well: they fire after this one.
   */
  #arm(): void {
    const timeout = this.#started ? this.#bodyTimeout : this.#headersTimeout;
    if (timeout === 0) return;
    if (this.#timer) this.#timer.refresh();
    else this.#timer = setTimeout(this.#onReadTimeout, timeout);
  }

  #disarm(): void {
    if (this.#timer === null) return;
    clearTimeout(this.#timer);
    this.#timer = null;
  }

  readonly #onReadTimeout = (): void => {
    this.#timer = null;
    this.#abort?.(this.#started ? new errors.BodyTimeoutError() : new errors.HeadersTimeoutError());
  };

  onConnect(abort: (reason?: Error) => void): void {
    this.#connected = true;
    this.#abort = abort;
    if (this.#clientGone) {
      abort(new Error("client closed the connection"));
      return;
    }
    if (!this.#streamed) this.#arm();
  }

  onHeaders(status: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    if (this.route.nextUpstream.statuses.size > 0 && this.route.nextUpstream.statuses.has(status)) {
      // nginx: a status listed in proxy_next_upstream is a failure of the server; the request goes
      // to the next one when it can, else this answer goes to the client as it is.
      this.#outcome = OUTCOME_FAILED;
      const next = this.#nextServer("status", true);
      if (next !== null) {
        this.#release(OUTCOME_FAILED);
        this.#retryTo = next;
        this.#abort?.(new NextUpstreamStatus(`status ${status}`));
        return false;
      }
    }
    upstreamAnswered(this.res, status);
    this.#resume = resume;
    this.#started = true;
    this.#disarm();
    const headers = responseHeaders(rawHeaders);
    const add = this.hooks?.addHeaders;
    if (add) setHeaders(headers, add);
    const onHeaders = this.hooks?.onHeaders;
    if (!onHeaders) {
      this.#writeHead(status, headers, statusText);
      this.#arm();
      return true;
    }
    try {
      const filtered = onHeaders(status, toHeaderObject(headers));
      if (filtered instanceof Promise) {
        filtered.then((result) => {
          this.#writeHead(result.status, toHeaderList(result.headers), undefined);
          this.#arm();
          resume();
        }, this.#hookFailed);
        return false;
      }
      this.#writeHead(filtered.status, toHeaderList(filtered.headers), undefined);
      this.#arm();
    } catch (error) {
      this.#hookFailed(error);
    }
    return true;
  }

  #writeHead(status: number, headers: string[], statusText: string | undefined): void {
    this.route.finishHeaders(status, headers);
    if (this.hooks?.onChunk) {
      // A body filter may change the length: send chunked instead (nginx users clear it by hand).
      removeHeaders(headers, isContentLength);
      // Held until the first filtered bytes go out, so that a filter that throws on the first
      // chunk still gets a clean 500 instead of a cut connection.
      this.#head = { status, headers };
      return;
    }
    if (statusText) this.res.writeHead(status, statusText, headers);
    else this.res.writeHead(status, headers);
  }

  #flushHead(): void {
    const head = this.#head;
    if (head === null) return;
    this.#head = null;
    this.res.writeHead(head.status, head.headers);
  }

  onData(chunk: Buffer): boolean {
    if (this.#clientGone || this.#hookError) return true;
    if (this.#timer) this.#timer.refresh();
    const onChunk = this.hooks?.onChunk;
    if (onChunk) {
      let filtered: Buffer | null | Promise<Buffer | null>;
      try {
        filtered = onChunk(chunk, false);
      } catch (error) {
        this.#hookFailed(error);
        return true;
      }
      if (filtered instanceof Promise) {
        this.#disarm();
        filtered.then((out) => {
          if (out && out.length > 0) this.#flushHead();
          if (out && !this.res.write(out)) this.res.once("drain", this.#onResume);
          else this.#onResume();
        }, this.#hookFailed);
        return false;
      }
      if (filtered === null || filtered.length === 0) return true;
      chunk = filtered;
      this.#flushHead();
    }
    if (this.res.write(chunk)) return true;
    this.#disarm();
    this.res.once("drain", this.#onResume);
    return false;
  }

  onComplete(): void {
    this.#release(this.#outcome);
    upstreamEnded(this.res);
    this.#disarm();
    this.#stopSendWatch?.();
    const onChunk = this.hooks?.onChunk;
    if (!onChunk) {
      this.res.end();
      return;
    }
    if (this.#hookError) return;
    try {
      const last = onChunk(null, true);
      if (last instanceof Promise) {
        last.then((out) => {
          this.#flushHead();
          this.res.end(out ?? undefined);
        }, this.#hookFailed);
      } else {
        this.#flushHead();
        this.res.end(last ?? undefined);
      }
    } catch (error) {
      this.#hookFailed(error);
    }
  }

  onError(error: Error): void {
    this.#disarm();
    const retryTo = this.#retryTo;
    if (retryTo !== null) {
      this.#retryTo = null;
      this.#redispatch(retryTo, "upstream server answered a proxyNextUpstream status, trying the next one", { message: error.message });
      return;
    }
    const kind = this.#clientGone || this.#hookError ? null : failureKind(error);
    this.#release(kind !== null ? OUTCOME_FAILED : this.#started ? this.#outcome : OUTCOME_NEUTRAL);
    if (kind !== null && !this.#started) {
      const next = this.#nextServer(kind, this.#connected);
      if (next !== null) {
        this.#redispatch(next, "upstream server failed, trying the next one", { code: (error as { code?: string }).code, message: error.message });
        return;
      }
    }
    this.#stopSendWatch?.();
    if (this.#clientGone || this.#hookError) return;
    this.#fail(error);
  }

  /** A header or body filter threw: the engine answers 500 (or cuts a started response) and logs it. */
  readonly #hookFailed = (error: unknown): void => {
    if (this.#hookError) return;
    this.#hookError = true;
    this.#disarm();
    this.#abort?.(new Error("hook failed"));
    this.hooks?.onFailure(error);
  };

  #fail(error: unknown): void {
    const code = errorCode(error);
    const requestId = this.hooks?.requestId ?? observationOf(this.res)?.record.requestId ?? nextRequestId();
    this.route.logger.error(
      {
        code,
        requestId,
        upstream: this.server.address,
        method: this.method,
        url: this.req.url,
        started: this.#started,
        err: { code: (error as { code?: string }).code, message: (error as Error).message },
      },
      code === "PTC_ERR_UPSTREAM_TIMEOUT"
        ? "upstream timed out"
        : code === "PTC_ERR_UPSTREAM_TLS"
          ? "upstream TLS handshake failed (certificate not trusted?)"
          : code === "PTC_ERR_REQUEST_BODY_TOO_LARGE"
            ? "request body too large"
            : "upstream request failed",
    );
    sendError(this.res, code, requestId);
  }
}

/** Sends the request to one server of the route and streams the answer back. */
export function forward(
  req: IncomingMessage,
  res: ServerResponse,
  route: ProxyRoute,
  target: RequestTarget,
  hooks: ProxyHooks | null,
  variables: VariableSource | null,
): void {
  const hashKey = route.hashKey;
  const key = hashKey === null ? "" : hashKey === "consumer" ? (hooks?.consumer ?? "") : hashKey(variables as VariableSource);
  const server = route.pick(null, key);
  if (server === null) {
    noLiveUpstreams(req, res, route, hooks);
    return;
  }
  const method = req.method ?? "GET";
  const path = upstreamPath(
    route.spec,
    route.prefixLength,
    hooks ? hooks.path : target.path,
    target.rawPath,
    hooks?.query == null ? target.raw : target.rawPath + (hooks.query ? `?${hooks.query}` : ""),
    hooks?.query ?? target.rawQuery,
    hooks?.pathChanged ?? false,
  );
  const { headers, contentLength, chunked } = requestHeaders(req, route, hooks?.headers ?? null, variables);
  const traceparent = observationOf(res)?.traceparent;
  if (traceparent) {
    // W3C Trace Context: the upstream's parent is our span, not the client's.
    removeHeaders(headers, isTraceparent);
    headers.push("traceparent", traceparent);
  }
  const handler = new ForwardHandler(req, res, route, server, hooks, method);
  handler.key = key;

  let body: Dispatcher.DispatchOptions["body"] = null;
  if (hooks?.body) {
    body = hooks.body;
    removeHeaders(headers, isContentLength);
    headers.push("content-length", String(hooks.body.length));
  } else if (contentLength > 0 || chunked) {
    if (route.bodyLimit > 0 && contentLength > route.bodyLimit) {
      handler.onError(new BodyTooLarge("request body exceeds clientMaxBodySize"));
      req.resume();
      return;
    }
    body = chunked && route.bodyLimit > 0 ? limitBody(req, route.bodyLimit) : req;
  }
  handler.dispatch(
    { path, method: method as Dispatcher.HttpMethod, headers, body, headersTimeout: route.headersTimeout, bodyTimeout: route.bodyTimeout },
    body !== null && !Buffer.isBuffer(body) ? (body as NodeJS.ReadableStream) : null,
  );
}

/** nginx "no live upstreams": every server of the group is out, so 502 at once, without a connect attempt. */
function noLiveUpstreams(req: IncomingMessage, res: ServerResponse, route: ProxyRoute, hooks: ProxyHooks | null): void {
  const requestId = hooks?.requestId ?? observationOf(res)?.record.requestId ?? nextRequestId();
  route.logger.error(
    { code: "PTC_ERR_UPSTREAM_UNAVAILABLE", requestId, upstream: route.spec.host, method: req.method, url: req.url },
    "no live upstreams: every server of the group is unavailable",
  );
  if (!hooks?.body) req.resume();
  sendError(res, "PTC_ERR_UPSTREAM_UNAVAILABLE", requestId);
}
