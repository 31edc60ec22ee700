/**
 * Where an upstream's answer goes on a location that filters it: the lifecycle's headerFilter
 * and bodyFilter steps (filters.ts, the same as for our own answers), then the client. The
 * upstream layer calls it; it never calls the upstream layer back.
 */
import type { ServerResponse } from "node:http";
import type { LocationPlan } from "../compile/plan.js";
import { removeHeaders } from "../http/header-list.js";
import type { Failure } from "../upstream/classify.js";
import type { ExchangeInfo, ResponseSink } from "../upstream/exchange.js";
import type { RequestContext } from "./context.js";
import { hookFailed, upstreamFailed } from "./exit.js";
import { applyEarlyHeaders, bodyFilterStep, hasEarlyHeaders, headerFilterStep } from "./filters.js";

const isContentLength = (name: string) => name === "content-length";

export class ProxySink implements ResponseSink {
  readonly #loc: LocationPlan;
  readonly #ctx: RequestContext;
  readonly #res: ServerResponse;
  /** Status and headers waiting for the first body-filtered bytes (a filter that throws on the first chunk gets a clean 500). */
  #head: { status: number; headers: string[] } | null = null;
  readonly #writeFiltered = (filtered: { status: number; headers: string[] }) => this.#writeHead(filtered.status, filtered.headers, undefined);

  constructor(loc: LocationPlan, ctx: RequestContext, res: ServerResponse) {
    this.#loc = loc;
    this.#ctx = ctx;
    this.#res = res;
  }

  head(status: number, headers: string[], statusText: string): void | Promise<void> {
    const ctx = this.#ctx;
    const early = ctx.response.headers;
    const list = hasEarlyHeaders(early) ? applyEarlyHeaders(headers, early) : headers;
    const chain = this.#loc.phases?.headerFilter ?? null;
    const filtered = headerFilterStep(chain, ctx, status, list);
    if (filtered instanceof Promise) return filtered.then(this.#writeFiltered);
    this.#writeHead(filtered.status, filtered.headers, chain === null ? statusText : undefined);
  }

  #writeHead(status: number, headers: string[], statusText: string | undefined): void {
    this.#loc.finishHeaders(status, headers);
    if (this.#loc.phases?.bodyFilter) {
      // A body filter may change the length: send chunked instead (nginx users clear it by hand).
      removeHeaders(headers, isContentLength);
      this.#head = { status, headers };
      return;
    }
    if (statusText) this.#res.writeHead(status, statusText, headers);
    else this.#res.writeHead(status, headers);
  }

  #flushHead(): void {
    const head = this.#head;
    if (head === null) return;
    this.#head = null;
    this.#res.writeHead(head.status, head.headers);
  }

  #write(chunk: Buffer | null): void | Promise<void> {
    if (chunk === null || chunk.length === 0) return;
    this.#flushHead();
    if (this.#res.write(chunk)) return;
    return new Promise((resolve) => this.#res.once("drain", resolve));
  }

  data(chunk: Buffer): void | Promise<void> {
    const chain = this.#loc.phases?.bodyFilter ?? null;
    if (chain === null) return this.#write(chunk);
    const out = bodyFilterStep(chain, this.#ctx, chunk, false);
    return out instanceof Promise ? out.then((filtered) => this.#write(filtered)) : this.#write(out);
  }

  end(): void | Promise<void> {
    const chain = this.#loc.phases?.bodyFilter ?? null;
    if (chain === null) {
      this.#res.end();
      return;
    }
    const finish = (last: Buffer | null) => {
      this.#flushHead();
      this.#res.end(last ?? undefined);
    };
    const last = bodyFilterStep(chain, this.#ctx, null, true);
    return last instanceof Promise ? last.then(finish) : finish(last);
  }

  fail(exchange: ExchangeInfo, error: unknown, failure: Failure | null): void {
    if (failure === null) hookFailed(this.#loc, this.#ctx, this.#res, error);
    else upstreamFailed(exchange, error, failure);
  }
}
