/**
 * keyAuth: API keys from a header, a query parameter or a cookie (Kong's key-auth), matched
 * against the keys of `consumers.<name>.keyAuth`. The lookup hashes the presented key (SHA-256)
 * and finds its digest in a map: no per-key string comparison, so timing reveals nothing. The key
 * is removed before proxying unless hideCredentials is false.
 */
import type { z } from "zod";
import {
  type AuthRejectState,
  anonymousConsumer,
  applyConsumer,
  authenticatedBefore,
  type ConsumerHeaderNames,
  type ConsumerRegistry,
  compileConsumerHeaders,
  consumerRegistry,
  readCookie,
  rejectAuth,
  removeCookie,
  stripConsumerHeaders,
} from "../../consumers/index.js";
import type { Consumer } from "../../lifecycle/context.js";
import { definePlugin } from "../../lifecycle/plugin.js";
import { type KeyAuthConfig, keyAuthSchema } from "./schema.js";

declare module "../../config/schema.js" {
  interface PluginConfigMap {
    keyAuth: z.input<typeof keyAuthSchema>;
  }
}

interface KeyAuthState extends AuthRejectState {
  readonly registry: ConsumerRegistry;
  readonly names: readonly string[];
  readonly headerNames: readonly string[] | null;
  readonly inQuery: boolean;
  readonly inCookie: boolean;
  readonly hide: boolean;
  readonly preflight: boolean;
  readonly challenge: string;
  readonly headers: ConsumerHeaderNames | false;
  readonly anonymous: Consumer | null;
}

type Where = "header" | "query" | "cookie";

export const keyAuth = definePlugin({
  name: "keyAuth",
  priority: 2500,
  description: "API keys (Kong key-auth): from a header, query parameter or cookie, matched against consumers.<name>.keyAuth; 401 without a valid one.",
  schema: keyAuthSchema,
  async init(conf: KeyAuthConfig, env): Promise<KeyAuthState> {
    const registry = await consumerRegistry(env);
    return {
      plugin: "keyAuth",
      logger: env.logger,
      registry,
      names: conf.keyNames,
      headerNames: conf.keyInHeader ? conf.keyNames.map((name) => name.toLowerCase()) : null,
      inQuery: conf.keyInQuery,
      inCookie: conf.keyInCookie,
      hide: conf.hideCredentials,
      preflight: conf.runOnPreflight,
      challenge: `Key realm="${conf.realm}"`,
      headers: compileConsumerHeaders(conf.consumerHeaders),
      anonymous: anonymousConsumer(conf.anonymous, (name) => registry.get(name)),
    };
  },
  access(ctx, st) {
    // Forged identity headers go first; an earlier auth plugin that authenticated removed them already.
    if (ctx.consumer === null) stripConsumerHeaders(ctx.request.headers, st.headers);
    if (st.anonymous !== null && authenticatedBefore(ctx)) return undefined;
    if (!st.preflight && ctx.request.method === "OPTIONS") return undefined;
    const headers = ctx.request.headers;
    let key: string | undefined;
    let where: Where = "header";
    let index = 0;
    if (st.headerNames !== null) {
      for (; index < st.headerNames.length; index++) {
        const value = headers[st.headerNames[index] as string];
        if (typeof value === "string" && value !== "") {
          key = value;
          break;
        }
      }
    }
    if (key === undefined && st.inQuery && ctx.request.url.includes("?")) {
      const query = ctx.request.query;
      for (index = 0; index < st.names.length; index++) {
        const value = query.get(st.names[index] as string);
        if (value !== null && value !== "") {
          key = value;
          where = "query";
          break;
        }
      }
    }
    if (key === undefined && st.inCookie && headers.cookie !== undefined) {
      for (index = 0; index < st.names.length; index++) {
        const value = readCookie(headers, st.names[index] as string);
        if (value !== undefined && value !== "") {
          key = value;
          where = "cookie";
          break;
        }
      }
    }
    if (key === undefined) return rejectAuth(ctx, st, "PTC_ERR_AUTH_MISSING", "no API key in the request", st.challenge);
    const credential = st.registry.findKey(key);
    if (credential === undefined) return rejectAuth(ctx, st, "PTC_ERR_AUTH_INVALID", `unknown API key (from the ${where})`, st.challenge);
    if (st.hide) {
      const name = st.names[index] as string;
      if (where === "header") headers[name.toLowerCase()] = undefined;
      else if (where === "cookie") removeCookie(headers, name);
      else {
        const query = ctx.request.query;
        query.delete(name);
        ctx.request.query = query;
      }
    }
    applyConsumer(ctx, credential.consumer, { headers: st.headers, credential: credential.id });
    return undefined;
  },
});
