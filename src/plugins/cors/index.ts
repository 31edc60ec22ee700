/**
 * cors: answers preflights at the gateway (204) and adds the CORS headers to the responses of
 * allowed origins (Fetch standard, "CORS protocol"). An origin that is not allowed gets no CORS
 * headers, so the browser blocks the page's read; the request itself still goes through.
 */
import type { OutgoingHttpHeaders } from "node:http";
import type { z } from "zod";
import type { HeaderFilterContext, RequestPhaseContext } from "../../lifecycle/context.js";
import { definePlugin } from "../../lifecycle/plugin.js";
import { type CorsConfig, corsSchema } from "./schema.js";

declare module "../../config/schema.js" {
  interface PluginConfigMap {
    cors: z.input<typeof corsSchema>;
  }
}

interface CorsState {
  any: boolean;
  exact: Set<string>;
  patterns: RegExp[];
  /** Vary: Origin is needed unless every origin gets the same literal "*". */
  varies: boolean;
  credentials: boolean;
  methods: string;
  headers: string | null;
  exposeHeaders: string | null;
  maxAge: string | null;
  preflightContinue: boolean;
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function compile(conf: CorsConfig): CorsState {
  const exact = new Set<string>();
  const patterns: RegExp[] = [];
  let any = false;
  for (const origin of conf.origins) {
    const regex = /^~(\*)?\s+(.+)$/.exec(origin);
    if (regex) patterns.push(new RegExp(regex[2] as string, regex[1] ? "i" : ""));
    else if (origin === "*") any = true;
    else if (origin.includes("*")) {
      // "https://*.example.com": "*" stands for one or more DNS labels, never for "/" or ":".
      const source = origin.toLowerCase().split("*").map(escapeRegex).join("[a-z0-9-]+(?:\\.[a-z0-9-]+)*");
      patterns.push(new RegExp(`^${source}$`, "i"));
    } else exact.add(origin === "null" ? origin : origin.toLowerCase());
  }
  return {
    any,
    exact,
    patterns,
    varies: !any || conf.credentials,
    credentials: conf.credentials,
    methods: conf.methods.join(", "),
    headers: conf.headers ? conf.headers.join(", ") : null,
    exposeHeaders: conf.exposeHeaders.length > 0 ? conf.exposeHeaders.join(", ") : null,
    maxAge: conf.maxAge === undefined ? null : String(conf.maxAge),
    preflightContinue: conf.preflightContinue,
  };
}

function allowed(state: CorsState, origin: string): boolean {
  if (state.any) return true;
  if (state.exact.has(origin) || state.exact.has(origin.toLowerCase())) return true;
  for (const pattern of state.patterns) if (pattern.test(origin)) return true;
  return false;
}

/** Access-Control-Allow-Origin's value: "*" where that is allowed, else the origin itself. */
function allowOrigin(state: CorsState, origin: string): string {
  return state.any && !state.credentials ? "*" : origin;
}

function addVary(headers: OutgoingHttpHeaders, token: string): void {
  const current = headers.vary;
  if (current === undefined || current === "") {
    headers.vary = token;
    return;
  }
  const text = Array.isArray(current) ? current.join(", ") : String(current);
  if (
    text.trim() === "*" ||
    text
      .toLowerCase()
      .split(/\s*,\s*/)
      .includes(token.toLowerCase())
  )
    return;
  headers.vary = `${text}, ${token}`;
}

function originOf(ctx: RequestPhaseContext | HeaderFilterContext): string | null {
  const origin = ctx.request.headers.origin;
  return typeof origin === "string" && origin !== "" ? origin : null;
}

export const cors = definePlugin({
  name: "cors",
  priority: 10000,
  description: "Cross-origin requests: preflights answered at the gateway, Access-Control-* headers for allowed origins.",
  schema: corsSchema,
  init: (conf: CorsConfig) => compile(conf),
  access(ctx, state) {
    if (ctx.request.method !== "OPTIONS" || state.preflightContinue) return undefined;
    const origin = originOf(ctx);
    const requestMethod = ctx.request.headers["access-control-request-method"];
    if (origin === null || requestMethod === undefined) return undefined;
    // A preflight: answered here, before authentication (browsers send no credentials with it).
    const headers: OutgoingHttpHeaders = {};
    if (state.varies) headers.vary = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";
    if (allowed(state, origin)) {
      headers["access-control-allow-origin"] = allowOrigin(state, origin);
      if (state.credentials) headers["access-control-allow-credentials"] = "true";
      headers["access-control-allow-methods"] = state.methods;
      const requested = ctx.request.headers["access-control-request-headers"];
      const allowHeaders = state.headers ?? (typeof requested === "string" && requested !== "" ? requested : null);
      if (allowHeaders !== null) headers["access-control-allow-headers"] = allowHeaders;
      if (state.maxAge !== null) headers["access-control-max-age"] = state.maxAge;
    }
    return ctx.exit(204, new Response(null, { status: 204 }), headers);
  },
  headerFilter(ctx, state) {
    const headers = ctx.response.headers;
    if (state.varies) addVary(headers, "Origin");
    const origin = originOf(ctx);
    if (origin === null || !allowed(state, origin)) return;
    // Preflights answered here carry their headers already.
    if (headers["access-control-allow-origin"] !== undefined && ctx.request.method === "OPTIONS" && !state.preflightContinue) return;
    headers["access-control-allow-origin"] = allowOrigin(state, origin);
    if (state.credentials) headers["access-control-allow-credentials"] = "true";
    if (state.exposeHeaders !== null) headers["access-control-expose-headers"] = state.exposeHeaders;
  },
});
