/**
 * One exchange with an upstream group: undici's raw-header dispatch handler, one per request, for
 * the proxy and the cache fill alike. It owns what every upstream request needs: the attempt's
 * accounting (in-flight, passive health, breaker, leastConn, the access record's upstream
 * fields), nginx's precise read and send timeouts, proxyNextUpstream retries, backpressure both
 * ways, and the classification of every failure (classify.ts) before it reaches the caller's
 * exit. The answer goes to a ResponseSink; with none, straight to the client's response.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { type Dispatcher, errors } from "undici";
import { removeHeaders } from "../http/header-list.js";
import { connectionTokens, dropResponseHeader } from "../http/hop-headers.js";
import { upstreamAnswered, upstreamEnded, upstreamStarted } from "../observability/record.js";
import { CLIENT_BODY_TOO_LARGE, classify, type Failure, SEND_TIMEOUT } from "./classify.js";
import { beginAttempt, endAttempt, OUTCOME_FAILED, OUTCOME_NEUTRAL, OUTCOME_OK, type Outcome } from "./health.js";
import { PRECISE_TIMEOUT_BELOW_MS, type UpstreamServer } from "./pools.js";
import type { ProxyRoute } from "./route.js";

/**
 * Where an upstream's answer goes when it is not streamed straight to the client: the lifecycle's
 * header and body filter steps, or the cache fill's stream. A returned promise pauses the
 * upstream until it settles; a throw or a rejection ends the exchange (fail gets `failure` null).
 */
export interface ResponseSink {
  /** Whether the upstream's Date is kept in the headers (a cache computes ages from it). */
  readonly keepsDate?: boolean;
  /** Status and headers, hop-by-hop fields and Server removed (Date too, unless keepsDate). */
  head(status: number, headers: string[], statusText: string): void | Promise<void>;
  data(chunk: Buffer): void | Promise<void>;
  end(): void | Promise<void>;
  /** The exchange failed: `failure` says how (null: one of this sink's own steps threw `error`). */
  fail(exchange: ExchangeInfo, error: unknown, failure: Failure | null): void;
}

/** What an exit reads of a failed exchange (an Exchange, or a request refused before any attempt). */
export interface ExchangeInfo {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly route: ProxyRoute;
  readonly method: string;
  readonly requestId: string;
  /** The server of the last attempt; null when none was made. */
  readonly server: UpstreamServer | null;
  /** Whether the upstream's answer had begun (then the client's response is cut, not answered). */
  readonly started: boolean;
}

/** The caller's exit for a failed exchange without a sink (a plain proxy location). */
export type ExchangeExit = (exchange: ExchangeInfo, error: unknown, failure: Failure) => void;

/** nginx: requests with these methods are not passed to the next server once sent (unless non_idempotent). */
const NON_IDEMPOTENT = new Set(["POST", "PATCH", "LOCK", "CONNECT"]);

/** Aborts an attempt whose status proxyNextUpstream lists, to pass the request on. */
class NextUpstreamStatus extends Error {}

class SendTimeout extends Error {
  readonly code = SEND_TIMEOUT;
}

class ClientGone extends Error {}

function isPrecise(timeout: number): boolean {
  return timeout > 0 && timeout < PRECISE_TIMEOUT_BELOW_MS;
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

/** Copies the upstream's raw headers for the client, dropping hop-by-hop, Server and (unless kept) Date. */
export function responseHeaders(raw: Buffer[], keepDate = false): string[] {
  const out: string[] = [];
  let named: Set<string> | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as Buffer).toString("latin1");
    const lower = name.toLowerCase();
    if (lower === "connection") named = connectionTokens((raw[i + 1] as Buffer).toString("latin1"), named);
    if (dropResponseHeader(lower) && !(keepDate && lower === "date")) continue;
    out.push(name, (raw[i + 1] as Buffer).toString("latin1"));
  }
  if (named !== null) {
    const tokens: Set<string> = named;
    removeHeaders(out, (name) => tokens.has(name));
  }
  return out;
}

export class Exchange implements Dispatcher.DispatchHandler, ExchangeInfo {
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
  #sinkFailed = false;
  #stopSendWatch: (() => void) | null = null;
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
  readonly #onSinkFailed = (error: unknown) => this.#sinkFailure(error);

  readonly req: IncomingMessage;
  /** The client's response: the access record hangs off it, and without a sink the answer goes there. */
  readonly res: ServerResponse;
  readonly route: ProxyRoute;
  /** The server of the current attempt. */
  server: UpstreamServer;
  readonly method: string;
  /** The request's id, for error bodies and logs. */
  readonly requestId: string;
  readonly #sink: ResponseSink | null;
  readonly #exit: ExchangeExit;
  /** The hash key of the request ("" when the method is not hash). */
  key = "";
  /** What is dispatched, the same for every attempt. */
  options: Dispatcher.DispatchOptions | null = null;

  constructor(
    req: IncomingMessage,
    res: ServerResponse,
    route: ProxyRoute,
    server: UpstreamServer,
    method: string,
    requestId: string,
    sink: ResponseSink | null,
    exit: ExchangeExit,
  ) {
    this.req = req;
    this.res = res;
    this.route = route;
    this.server = server;
    this.method = method;
    this.requestId = requestId;
    this.#sink = sink;
    this.#exit = exit;
    this.#headersTimeout = isPrecise(route.headersTimeout) ? route.headersTimeout : 0;
    this.#bodyTimeout = isPrecise(route.bodyTimeout) ? route.bodyTimeout : 0;
    res.once("close", () => {
      if (res.writableFinished) return;
      // The client hung up before the end: stop the upstream request too.
      this.#clientGone = true;
      this.#abort?.(new ClientGone("client closed the connection"));
    });
  }

  /** Whether the upstream's status line has arrived (an answer is under way). */
  get started(): boolean {
    return this.#started;
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
    this.#begin(this.server);
    this.server.pool.dispatch(options, this);
  }

  /** Refuses the request before any attempt (a body over clientMaxBodySize): nothing is counted. */
  refuse(error: Error): void {
    this.#stopSendWatch?.();
    if (this.#sink !== null) this.#sink.fail(this, error, CLIENT_BODY_TOO_LARGE);
    else this.#exit(this, error, CLIENT_BODY_TOO_LARGE);
  }

  /** The accounting of an attempt, begun and ended once each: in-flight, the access record. */
  #begin(server: UpstreamServer): void {
    upstreamStarted(this.res, server.address);
    beginAttempt(server);
    this.#attemptOpen = true;
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
  #redispatch(next: UpstreamServer, reason: string, why: { code?: string; message?: string }): void {
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
      this.#begin(next);
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
      abort(new ClientGone("client closed the connection"));
      return;
    }
    if (!this.#streamed) this.#arm();
  }

  onHeaders(status: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    const statuses = this.route.nextUpstream.statuses;
    if (statuses.size > 0 && statuses.has(status)) {
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
    const sink = this.#sink;
    const headers = responseHeaders(rawHeaders, sink?.keepsDate === true);
    if (sink === null) {
      this.route.finishHeaders(status, headers);
      if (statusText) this.res.writeHead(status, statusText, headers);
      else this.res.writeHead(status, headers);
      this.#arm();
      return true;
    }
    let done: void | Promise<void>;
    try {
      done = sink.head(status, headers, statusText);
    } catch (error) {
      this.#sinkFailure(error);
      return true;
    }
    if (done instanceof Promise) {
      done.then(this.#onResume, this.#onSinkFailed);
      return false;
    }
    this.#arm();
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.#clientGone || this.#sinkFailed) return true;
    if (this.#timer) this.#timer.refresh();
    const sink = this.#sink;
    if (sink === null) {
      if (this.res.write(chunk)) return true;
      this.#disarm();
      this.res.once("drain", this.#onResume);
      return false;
    }
    let done: void | Promise<void>;
    try {
      done = sink.data(chunk);
    } catch (error) {
      this.#sinkFailure(error);
      return true;
    }
    if (done instanceof Promise) {
      this.#disarm();
      done.then(this.#onResume, this.#onSinkFailed);
      return false;
    }
    return true;
  }

  onComplete(): void {
    this.#release(this.#outcome);
    upstreamEnded(this.res);
    this.#disarm();
    this.#stopSendWatch?.();
    const sink = this.#sink;
    if (sink === null) {
      this.res.end();
      return;
    }
    if (this.#sinkFailed) return;
    try {
      const done = sink.end();
      if (done instanceof Promise) done.then(undefined, this.#onSinkFailed);
    } catch (error) {
      this.#sinkFailure(error);
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
    if (this.#clientGone || this.#sinkFailed) {
      // Not the server's doing: the attempt ends without blame, and nobody is left to answer.
      this.#release(this.#started ? this.#outcome : OUTCOME_NEUTRAL);
      this.#stopSendWatch?.();
      upstreamEnded(this.res);
      return;
    }
    const failure = classify(error);
    this.#release(failure.blamesServer ? OUTCOME_FAILED : this.#started ? this.#outcome : OUTCOME_NEUTRAL);
    if (failure.retryAs !== null && !this.#started) {
      const next = this.#nextServer(failure.retryAs, this.#connected);
      if (next !== null) {
        this.#redispatch(next, "upstream server failed, trying the next one", { code: (error as { code?: string }).code, message: error.message });
        return;
      }
    }
    this.#stopSendWatch?.();
    upstreamEnded(this.res);
    if (this.#sink !== null) this.#sink.fail(this, error, failure);
    else this.#exit(this, error, failure);
  }

  /** A step of the sink threw: stop the upstream, and let the sink answer (500, or a cut response). */
  #sinkFailure(error: unknown): void {
    if (this.#sinkFailed) return;
    this.#sinkFailed = true;
    this.#disarm();
    this.#abort?.(new Error("response step failed"));
    (this.#sink as ResponseSink).fail(this, error, null);
  }
}
