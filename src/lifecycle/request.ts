/**
 * The lifecycle of one request, from "location matched" to "log written", in nginx's order:
 *
 *   rewrite → preaccess → access → content | return | upstream → headerFilter → bodyFilter → send → log
 *
 * Each phase is a step that costs one `null` check when the location has no hook for it; a
 * location with no hook at all builds no context (the same steps, with `ctx` null). Every failure
 * goes to the one exit (exit.ts); an exit returned by a hook is answered through the filters.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { TLSSocket } from "node:tls";
import type { LocationPlan, PhaseChains } from "../compile/plan.js";
import { toHeaderList, toHeaderObject } from "../http/header-list.js";
import { rawHeader } from "../http/hop-headers.js";
import { nextRequestId } from "../http/respond.js";
import type { VariableSource } from "../http/variables.js";
import { basicRecord, type LocationBinding, type Observation, observationOf } from "../observability/record.js";
import type { ClientAddress } from "../router/client-address.js";
import { normalizeHost } from "../router/virtual-hosts.js";
import { clientGone, forward, type RequestEdits, type RequestTarget } from "../upstream/forward.js";
import { tunnel } from "../upstream/tunnel.js";
import { runChain } from "./chain.js";
import { isExit, RequestContext } from "./context.js";
import { hookFailed, logHookFailed, upstreamFailed } from "./exit.js";
import { hasEarlyHeaders } from "./filters.js";
import { ProxySink } from "./proxy-sink.js";
import { exitResponse, send, toResponse } from "./send.js";

/** The client's socket after an Upgrade request (WebSocket), when the server handed it over. */
export interface Upgrade {
  socket: Duplex;
  head: Buffer;
}

/** The request's variables ($host, $uri, $arg_*, captures …) for templates, built only where one is used. */
export function variablesOf(
  loc: LocationPlan,
  req: IncomingMessage,
  path: string,
  target: RequestTarget,
  captures: readonly string[] | null,
  requestId: string,
  clientAddress: ClientAddress,
): VariableSource {
  const raw = req.rawHeaders;
  return {
    req,
    path,
    rawQuery: target.rawQuery,
    host: normalizeHost(rawHeader(raw, "host") ?? rawHeader(raw, ":authority")) || loc.serverName,
    serverName: loc.serverName,
    scheme: (req.socket as TLSSocket | undefined)?.encrypted === true ? "https" : "http",
    ip: clientAddress(req),
    captures,
    proxyHost: loc.answer.kind === "proxy" ? loc.answer.route.spec.proxyHost : (loc.websocket?.spec.proxyHost ?? ""),
    requestId,
  };
}

/** Runs the lifecycle of a request on its location. */
export function runLocation(
  loc: LocationPlan,
  req: IncomingMessage,
  res: ServerResponse,
  target: RequestTarget,
  captures: readonly string[] | null,
  upgrade: Upgrade | null,
  clientAddress: ClientAddress,
): void {
  const observation = observationOf(res);
  if (observation !== undefined) observation.loc = loc.observe as LocationBinding;
  const phases = loc.phases;
  if (phases === null) answerWithoutPhases(loc, req, res, target, captures, upgrade, clientAddress);
  else void walk(loc, phases, req, res, target, captures, upgrade, clientAddress, observation);
}

/** A location without hooks: straight to its answer, no context. */
function answerWithoutPhases(
  loc: LocationPlan,
  req: IncomingMessage,
  res: ServerResponse,
  target: RequestTarget,
  captures: readonly string[] | null,
  upgrade: Upgrade | null,
  clientAddress: ClientAddress,
): void {
  const answer = loc.answer;
  if (upgrade !== null && loc.websocket !== null) {
    const id = nextRequestId();
    const variables = loc.needsVariables ? variablesOf(loc, req, target.path, target, captures, id, clientAddress) : null;
    tunnel(req, res, upgrade.socket, upgrade.head, loc.websocket, target, null, variables, id, upstreamFailed);
    return;
  }
  if (answer.kind === "proxy") {
    // The shortest path there is; the request id is made only if an error needs one.
    const variables = loc.needsVariables ? variablesOf(loc, req, target.path, target, captures, nextRequestId(), clientAddress) : null;
    forward(req, res, answer.route, target, null, variables, variables?.requestId ?? "", null, upstreamFailed);
    return;
  }
  if (answer.kind === "return") {
    const constant = answer.constant;
    if (constant !== null && constant.status === 444) {
      // nginx's "return 444": close the connection without an answer.
      res.destroy();
      return;
    }
    if (constant !== null) {
      res.writeHead(constant.status, constant.headers);
      res.end(constant.body);
      return;
    }
    const out = answer.render(variablesOf(loc, req, target.path, target, captures, nextRequestId(), clientAddress));
    const list = toHeaderList(out.headers);
    loc.finishHeaders(out.status, list);
    res.writeHead(out.status, list);
    res.end(out.body);
  }
}

/** What the phases changed of the request, for the upstream request builder. */
export function editsOf(ctx: RequestContext): RequestEdits {
  return {
    headers: ctx.request.headers,
    path: ctx.request.path,
    pathChanged: ctx.pathChanged,
    query: ctx.queryChanged ? ctx.request.query.toString() : null,
    body: ctx.body,
    consumer: ctx.consumer?.name ?? null,
  };
}

/** The walk through the phases, for a location with hooks. */
async function walk(
  loc: LocationPlan,
  phases: PhaseChains,
  req: IncomingMessage,
  res: ServerResponse,
  target: RequestTarget,
  captures: readonly string[] | null,
  upgrade: Upgrade | null,
  clientAddress: ClientAddress,
  observation: Observation | undefined,
): Promise<void> {
  const ctx = new RequestContext(req, res, {
    plan: loc,
    target,
    ip: clientAddress(req),
    location: captures ? { key: loc.location.key, captures } : loc.location,
    requestId: observation?.record.requestId ?? nextRequestId(),
  });
  if (observation !== undefined) {
    observation.ctx = ctx;
    ctx.log = observation.record;
  }
  if (phases.log !== null) res.once("close", () => logStep(loc, phases.log as NonNullable<PhaseChains["log"]>, ctx, res));
  try {
    // rewrite → preaccess → access: any of them may answer with an exit.
    for (let phase = 0; phase < 3; phase++) {
      const chain = phase === 0 ? phases.rewrite : phase === 1 ? phases.preaccess : phases.access;
      if (chain === null) continue;
      let result = runChain(chain, ctx, false);
      if (result instanceof Promise) {
        result = await result;
        // The client hung up while a hook waited (limitReq's delay, an auth service): nothing more is done.
        if (clientGone(req, res)) return;
      }
      if (isExit(result)) return await send(loc, ctx, res, exitResponse(result));
    }
    if (upgrade !== null && loc.websocket !== null) {
      const route = loc.websocket;
      const variables = loc.needsVariables ? variablesOf(loc, req, target.path, target, ctx.location.captures, ctx.requestId, clientAddress) : null;
      tunnel(req, res, upgrade.socket, upgrade.head, route, target, editsOf(ctx), variables, ctx.requestId, upstreamFailed);
      return;
    }
    const answer = loc.answer;
    if (phases.content !== null) {
      const value = await runChain(phases.content, ctx, true);
      if (clientGone(req, res)) return;
      // Where the location answers itself (proxyPass, return), content hooks come from plugins: no value lets it answer.
      if (value !== undefined || answer.kind === "content") {
        const own = isExit(value) ? exitResponse(value) : toResponse(value, ctx.response.status, ctx.response.headers, loc.defaultType);
        return await send(loc, ctx, res, own);
      }
    }
    if (answer.kind === "return") {
      const out = answer.render(variablesOf(loc, req, ctx.request.path, target, ctx.location.captures, ctx.requestId, clientAddress));
      // Hooks see lower-case names (and send() then finds the Content-Length it must not repeat).
      return await send(loc, ctx, res, { ...out, headers: toHeaderObject(toHeaderList(out.headers)) });
    }
    if (answer.kind === "proxy") {
      const route = answer.route;
      const variables = loc.needsVariables ? variablesOf(loc, req, target.path, target, ctx.location.captures, ctx.requestId, clientAddress) : null;
      // The filters run as steps of this lifecycle, on the upstream's answer; without any, it goes straight out.
      const filters = phases.headerFilter !== null || phases.bodyFilter !== null || hasEarlyHeaders(ctx.response.headers);
      forward(req, res, route, target, editsOf(ctx), variables, ctx.requestId, filters ? new ProxySink(loc, ctx, res) : null, upstreamFailed);
    }
  } catch (error) {
    hookFailed(loc, ctx, res, error);
  }
}

/** The log step, once the response is done (sent or cut): the log hooks see the record. */
function logStep(loc: LocationPlan, chain: NonNullable<PhaseChains["log"]>, ctx: RequestContext, res: ServerResponse): void {
  // Without access log or metrics, the record is made here, from what the lifecycle knows (no timings).
  ctx.log ??= basicRecord(ctx, res);
  if (res.headersSent) ctx.response.status = res.statusCode;
  try {
    const result = runChain(chain, ctx, false);
    if (result instanceof Promise) result.then(undefined, (error: unknown) => logHookFailed(loc, ctx, error));
  } catch (error) {
    logHookFailed(loc, ctx, error);
  }
}
