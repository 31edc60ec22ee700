/**
 * The location's upstream request made for a plugin that needs the answer in hand (proxyCache's
 * fill and revalidation) rather than streamed to the client: built by the same builder, sent and
 * accounted by the same Exchange as the proxy (health, breaker, leastConn, the access record's
 * upstream fields, retries), with the answer as `{ status, headers, body stream }`.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import { Readable } from "node:stream";
import type { Dispatcher } from "undici";
import { PorticoError } from "../errors.js";
import { removeHeaders } from "../http/header-list.js";
import type { VariableSource } from "../http/variables.js";
import { classify, type Failure, NO_LIVE_UPSTREAMS } from "./classify.js";
import { Exchange, type ExchangeInfo, type ResponseSink } from "./exchange.js";
import { hashKeyOf, type RequestEdits, requestHeaders, targetPath } from "./request.js";
import type { ProxyRoute, RequestTarget } from "./route.js";

export interface UpstreamAnswer {
  status: number;
  /** Lower-case names; repeated headers (set-cookie) as arrays. */
  headers: Record<string, string | string[]>;
  /** The body, streamed: read it or destroy it. */
  body: Readable;
}

const isBodyHeader = (name: string) => name === "content-length" || name === "transfer-encoding";

/** One string per field (what http-cache-semantics reads), except Set-Cookie (RFC 9110 5.3). */
function headerObject(list: readonly string[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i < list.length; i += 2) {
    const name = (list[i] as string).toLowerCase();
    const value = list[i + 1] as string;
    const had = out[name];
    if (had === undefined) out[name] = name === "set-cookie" ? [value] : value;
    else if (Array.isArray(had)) had.push(value);
    else out[name] = `${had}, ${value}`;
  }
  return out;
}

/** An upstream failure as the fill's caller sees it: the classified code, the original as cause. */
export class UpstreamFailure extends PorticoError {
  readonly failure: Failure;
  constructor(failure: Failure, cause: unknown) {
    super(failure.code, failure.message, { cause });
    this.failure = failure;
  }
}

/** Turns the exchange's answer into a promise and a readable body with backpressure. */
class FetchSink implements ResponseSink {
  readonly keepsDate = true;
  readonly promise: Promise<UpstreamAnswer>;
  #resolve!: (answer: UpstreamAnswer) => void;
  #reject!: (error: unknown) => void;
  #body: Readable | null = null;
  #waiting: { resolve: () => void; reject: (error: unknown) => void } | null = null;

  constructor() {
    this.promise = new Promise<UpstreamAnswer>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  #wake(error: unknown): void {
    const waiting = this.#waiting;
    this.#waiting = null;
    if (waiting === null) return;
    if (error) waiting.reject(error);
    else waiting.resolve();
  }

  head(status: number, headers: string[]): void {
    const body = new Readable({
      read: () => this.#wake(null),
      // The reader gave up: the exchange stops (and the upstream request with it).
      destroy: (error, callback) => {
        this.#wake(error ?? new Error("the answer's body was not read"));
        callback(error);
      },
    });
    this.#body = body;
    this.#resolve({ status, headers: headerObject(headers), body });
  }

  data(chunk: Buffer): void | Promise<void> {
    const body = this.#body as Readable;
    if (body.destroyed) throw new Error("the answer's body was not read");
    if (body.push(chunk)) return;
    return new Promise<void>((resolve, reject) => {
      this.#waiting = { resolve, reject };
    });
  }

  end(): void {
    this.#body?.push(null);
  }

  fail(_exchange: ExchangeInfo, error: unknown, failure: Failure | null): void {
    const reason = failure === null ? error : new UpstreamFailure(failure, error);
    if (this.#body === null) this.#reject(reason);
    else if (!this.#body.destroyed) this.#body.destroy(reason as Error);
  }
}

/**
 * Sends `method` with `headers` (no body) to a server of the route and resolves once the upstream's
 * status and headers are in; rejects with an UpstreamFailure (its code is what the client would be
 * answered) when no server answers.
 */
export function fetchUpstream(
  req: IncomingMessage,
  res: ServerResponse,
  route: ProxyRoute,
  target: RequestTarget,
  edits: RequestEdits,
  method: string,
  headers: IncomingHttpHeaders,
  variables: VariableSource | null,
  requestId: string,
): Promise<UpstreamAnswer> {
  const sink = new FetchSink();
  const key = hashKeyOf(route, edits, variables);
  const server = route.pick(null, key);
  let list: string[];
  try {
    list = requestHeaders(req, route, headers, variables).headers;
  } catch (error) {
    return Promise.reject(new UpstreamFailure(classify(error), error));
  }
  if (server === null) return Promise.reject(new UpstreamFailure(NO_LIVE_UPSTREAMS, null));
  // No request body is sent: the cache makes GET and HEAD requests.
  removeHeaders(list, isBodyHeader);
  const exchange = new Exchange(req, res, route, server, method, requestId, sink, failWithoutSink);
  exchange.key = key;
  const options: Dispatcher.DispatchOptions = {
    path: targetPath(route, target, edits),
    method: method as Dispatcher.HttpMethod,
    headers: list,
    body: null,
    headersTimeout: route.headersTimeout,
    bodyTimeout: route.bodyTimeout,
  };
  exchange.dispatch(options, null);
  return sink.promise;
}

/** Never called: a fetch always has its sink. */
function failWithoutSink(): void {}
