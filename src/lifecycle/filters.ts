/**
 * The headerFilter and bodyFilter steps, the same for an answer the gateway makes (send.ts) and
 * one from the upstream (proxy-sink.ts): header filters see and change status and headers as an
 * object; body filters see each chunk (`ctx.chunk`, `ctx.eof`) and may replace it.
 */
import type { OutgoingHttpHeaders } from "node:http";
import type { CompiledHook } from "../compile/plan.js";
import { toHeaderList, toHeaderObject } from "../http/header-list.js";
import { runChain } from "./chain.js";
import type { RequestContext } from "./context.js";

/** Headers that rewrite/access hooks set on ctx.response (nginx add_header in access): added to the answer. */
export function hasEarlyHeaders(headers: OutgoingHttpHeaders): boolean {
  for (const _ in headers) return true;
  return false;
}

/** Sets each header of `add` (an object) on `list`, replacing the list's value of that name. */
export function applyEarlyHeaders(list: string[], add: OutgoingHttpHeaders): string[] {
  const out: string[] = [];
  for (let i = 0; i < list.length; i += 2) {
    if (add[(list[i] as string).toLowerCase()] === undefined) out.push(list[i] as string, list[i + 1] as string);
  }
  for (const item of toHeaderList(add)) out.push(item);
  return out;
}

/**
 * Runs the header filters on a status and header list; resolves (or returns, when they are
 * synchronous) with the filtered status and list. ctx.response holds the result for later phases.
 */
export function headerFilterStep(
  chain: readonly CompiledHook[] | null,
  ctx: RequestContext,
  status: number,
  headers: string[],
): { status: number; headers: string[] } | Promise<{ status: number; headers: string[] }> {
  ctx.response.status = status;
  if (chain === null) return { status, headers };
  ctx.response.headers = toHeaderObject(headers);
  const done = runChain(chain, ctx, false);
  const take = () => ({ status: ctx.response.status, headers: toHeaderList(ctx.response.headers) });
  return done instanceof Promise ? done.then(take) : take();
}

/** Runs the body filters on one chunk (null + eof at the end); stays synchronous while they are. */
export function bodyFilterStep(
  chain: readonly CompiledHook[],
  ctx: RequestContext,
  chunk: Buffer | null,
  eof: boolean,
): Buffer | null | Promise<Buffer | null> {
  ctx.chunk = chunk;
  ctx.eof = eof;
  const done = runChain(chain, ctx, false);
  const take = (): Buffer | null => {
    const out = ctx.chunk as Buffer | string | null;
    return typeof out === "string" ? Buffer.from(out) : out;
  };
  return done instanceof Promise ? done.then(take) : take();
}
