/**
 * The one error exit of a request: whatever failed (a hook, the upstream, the request itself),
 * this decides the status, the short generic body with the request id, and the one log line with
 * the detail. A response already under way is cut instead of answered (sendError).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { LocationPlan } from "../compile/plan.js";
import { type ErrorCode, PorticoError } from "../errors.js";
import { nextRequestId, sendError } from "../http/respond.js";
import { observationOf } from "../observability/record.js";
import type { Failure } from "../upstream/classify.js";
import type { ExchangeInfo } from "../upstream/exchange.js";
import { HookError } from "./chain.js";
import type { RequestContext } from "./context.js";

/** The request's id: the one already given (lifecycle, requestId plugin, access record), else a new one. */
export function requestIdOf(res: ServerResponse, given: string): string {
  return given || (observationOf(res)?.record.requestId ?? nextRequestId());
}

/** A hook (or a step of the lifecycle) threw: 500 and a log line naming it; a body over the limit is the client's 413. */
export function hookFailed(loc: LocationPlan, ctx: RequestContext, res: ServerResponse, error: unknown): void {
  const original = error instanceof HookError ? error.original : error;
  if (original instanceof PorticoError && original.code === "PTC_ERR_REQUEST_BODY_TOO_LARGE") {
    loc.logger.info({ code: original.code, requestId: ctx.requestId, location: loc.location.key }, "request body too large");
    sendError(res, original.code, ctx.requestId);
    return;
  }
  const hook = error instanceof HookError ? error.hook : "lifecycle";
  loc.logger.error(
    { code: "PTC_ERR_HOOK_FAILED", requestId: ctx.requestId, hook, location: loc.location.key, virtualHost: loc.virtualHost.name, err: original },
    `hook ${hook} threw: ${(original as Error)?.message ?? String(original)}`,
  );
  sendError(res, "PTC_ERR_HOOK_FAILED", ctx.requestId);
}

/** A log hook threw: the response is gone, so only the log line. */
export function logHookFailed(loc: LocationPlan, ctx: RequestContext, error: unknown): void {
  const hook = error instanceof HookError ? error.hook : "log";
  loc.logger.error(
    { code: "PTC_ERR_HOOK_FAILED", requestId: ctx.requestId, hook, err: error instanceof HookError ? error.original : error },
    `hook ${hook} threw`,
  );
}

/**
 * An upstream exchange failed (classified): the client gets the failure's status; a client-caused
 * one is logged at info (it is not the gateway's or the upstream's problem), the others as errors.
 */
export function upstreamFailed(info: ExchangeInfo, error: unknown, failure: Failure): void {
  const requestId = requestIdOf(info.res, info.requestId);
  const detail = {
    code: failure.code,
    requestId,
    upstream: info.server?.address ?? info.route.spec.host,
    method: info.method,
    url: info.req.url,
    started: info.started,
    // An Upgrade request that was to open a WebSocket tunnel.
    ...(info.req.headers.upgrade !== undefined ? { websocket: true } : null),
    err: { code: (error as { code?: string } | null)?.code, message: (error as Error | null)?.message },
  };
  if (failure.kind === "client") info.route.logger.info(detail, failure.message);
  else info.route.logger.error(detail, failure.message);
  sendError(info.res, failure.code, requestId);
}

/** A request refused before any location ran (bad path or Host, body over clientMaxBodySize). */
export function requestRefused(logger: LocationPlan["logger"], req: IncomingMessage, res: ServerResponse, code: ErrorCode, ip: string): void {
  const requestId = requestIdOf(res, "");
  logger.info({ code, requestId, url: req.url, ip }, "request refused");
  sendError(res, code, requestId);
}
