/**
 * openidConnect: both roles of lua-resty-openidc. A resource server (bearer JWTs against the
 * provider's JWKS, opaque tokens by introspection) and a relying party for browsers (code flow
 * with PKCE, state and nonce; an encrypted session cookie or a Redis session; refresh; logout).
 * On success: ctx.jwt holds the verified claims, ctx.consumer the subject, and the configured
 * token and claim headers go upstream (incoming copies of them are always removed first).
 */
import { createHash } from "node:crypto";
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http";
import type { TLSSocket } from "node:tls";
import type { Logger } from "pino";
import type { z } from "zod";
import { parseTime } from "../../config/units.js";
import { applyConsumer, type ConsumerHeaderNames, clearHeader, compileConsumerHeaders, stripConsumerHeaders } from "../../consumers/apply.js";
import { ERRORS, type ErrorCode } from "../../errors.js";
import type { RequestPhaseContext } from "../../lifecycle/context.js";
import { definePlugin, type PluginEnv } from "../../lifecycle/plugin.js";
import { ProviderHandle } from "./provider.js";
import { type Answer, RelyingParty, type RequestOrigin } from "./relying-party.js";
import { type BearerSettings, verifyBearer } from "./resource-server.js";
import { type OpenidConnectConfig, openidConnectSchema } from "./schema.js";
import { CookieSessionStore, RedisSessionStore, SessionCodec, type SessionStore } from "./session.js";

declare module "../../config/schema.js" {
  interface PluginConfigMap {
    openidConnect: z.input<typeof openidConnectSchema>;
  }
}

/** Cookies to add to the response (a refreshed or dropped session), from access to headerFilter. */
const SET_COOKIES = "openidConnect.setCookies";

interface OidcState {
  handle: ProviderHandle;
  rp: RelyingParty | null;
  bearer: BearerSettings;
  bearerOnly: boolean;
  unauthAction: "auto" | "redirect" | "deny";
  logoutPath: string;
  idTokenHeader: string | null;
  accessTokenHeader: string | null;
  claimHeaders: Array<[header: string, claim: string]>;
  /** Lower-case names of every header this plugin sets upstream. */
  ownHeaders: string[];
  consumerHeaders: ConsumerHeaderNames | false;
  /** Matches the names of this plugin's own cookies (the session, its chunks, the login state). */
  ownCookie: RegExp;
  logger: Logger;
}

function headerName(setting: boolean | string, fallback: string): string | null {
  if (setting === false) return null;
  return (setting === true ? fallback : setting).toLowerCase();
}

function isLoopbackHost(hostname: string): boolean {
  return hostname === "localhost" || hostname === "[::1]" || /^127\./.test(hostname);
}

async function secretOf(env: PluginEnv, inline: string | undefined, file: string | undefined, what: string): Promise<string | null> {
  if (inline !== undefined) return inline;
  if (file === undefined) return null;
  const text = (await env.readFile(file)).toString("utf8").replace(/\r?\n$/, "");
  if (text === "") throw new Error(`${what} file ${file} is empty`);
  return text;
}

async function init(conf: OpenidConnectConfig, env: PluginEnv): Promise<OidcState> {
  const clientSecret = await secretOf(env, conf.clientSecret, conf.clientSecretFile, "clientSecret");
  const sessionSecret = await secretOf(env, conf.sessionSecret, conf.sessionSecretFile, "sessionSecret");
  if (sessionSecret !== null && Buffer.byteLength(sessionSecret) < 32) throw new Error("the session secret must be at least 32 bytes");
  const issuer = new URL(conf.issuer);
  const settings = {
    issuer: conf.issuer,
    clientId: conf.clientId,
    clientSecret,
    insecure: issuer.protocol === "http:" && (isLoopbackHost(issuer.hostname) || conf.allowInsecureHttp),
    timeoutMs: parseTime(conf.timeout),
    jwksCooldownMs: parseTime(conf.jwksRefreshCooldown),
    jwksMaxAgeMs: parseTime(conf.jwksCacheMaxAge),
  };
  // The kept handle is keyed by everything that shapes it (the secret by digest only).
  const keyId = createHash("sha256")
    .update(JSON.stringify({ ...settings, clientSecret: clientSecret && createHash("sha256").update(clientSecret).digest("hex") }))
    .digest("hex");
  const handle = env.keep(`provider:${keyId}`, () => new ProviderHandle(settings));
  try {
    await handle.config();
  } catch (error) {
    env.logger.warn(
      { code: "PTC_ERR_AUTH_OIDC_PROVIDER_UNAVAILABLE", issuer: conf.issuer, err: (error as Error).message },
      "OpenID Provider discovery failed at load; retrying on the next request",
    );
  }

  let rp: RelyingParty | null = null;
  if (!conf.bearerOnly && sessionSecret !== null && conf.redirectUri !== undefined) {
    const codec = new SessionCodec(sessionSecret);
    let store: SessionStore;
    if (conf.sessionStore === "redis") {
      const redis = env.redis();
      if (!redis) throw new Error("sessionStore: redis needs a top-level redis: { url } in the config");
      store = new RedisSessionStore(codec, redis);
    } else store = new CookieSessionStore(codec);
    rp = new RelyingParty(handle, codec, store, {
      redirectUri: conf.redirectUri,
      scope: conf.scopes.join(" "),
      cookieName: conf.sessionCookieName,
      secure: conf.sessionCookieSecure ?? null,
      lifetimeMs: parseTime(conf.sessionLifetime),
      refreshBeforeMs: parseTime(conf.refreshBeforeExpiry),
      userinfo: conf.userinfo,
      postLogoutRedirectUri: conf.postLogoutRedirectUri ?? null,
      rpInitiatedLogout: conf.rpInitiatedLogout,
    });
  }

  const idTokenHeader = headerName(conf.setIdTokenHeader, "X-ID-Token");
  const accessTokenHeader = headerName(conf.setAccessTokenHeader, "X-Access-Token");
  const claimHeaders = Object.entries(conf.setClaimHeaders).map(([header, claim]) => [header.toLowerCase(), claim] as [string, string]);
  const audience = conf.audience ?? conf.clientId;
  return {
    handle,
    rp,
    bearer: {
      jwt: conf.bearerJwtAuth,
      introspection: conf.introspection,
      introspectionTtlMs: parseTime(conf.introspectionCacheTtl),
      audiences: Array.isArray(audience) ? audience : [audience],
      algorithms: conf.algorithms,
      clockSkewS: Math.ceil(parseTime(conf.clockSkew) / 1000),
    },
    bearerOnly: conf.bearerOnly,
    unauthAction: conf.unauthAction,
    logoutPath: conf.logoutPath,
    idTokenHeader,
    accessTokenHeader,
    claimHeaders,
    ownHeaders: [idTokenHeader, accessTokenHeader, ...claimHeaders.map(([header]) => header)].filter((h): h is string => h !== null),
    consumerHeaders: compileConsumerHeaders(conf.consumerHeaders),
    ownCookie: new RegExp(`^${conf.sessionCookieName}(?:\\.\\d+|_auth)?$`),
    logger: env.logger,
  };
}

function originOf(ctx: RequestPhaseContext): RequestOrigin {
  // The engine's context carries the Node request; its socket says whether this came over TLS.
  const req = (ctx as unknown as { req?: { socket?: Partial<TLSSocket> } }).req;
  return { headers: ctx.request.headers, tls: req?.socket?.encrypted === true };
}

function deny(ctx: RequestPhaseContext, st: OidcState, code: ErrorCode, reason: string | null, bearer: boolean) {
  const { status, message } = ERRORS[code];
  if (reason !== null) st.logger.info({ code, requestId: ctx.requestId, location: ctx.location.key, reason }, "openidConnect refused the request");
  const headers: OutgoingHttpHeaders = {};
  if (status === 401) headers["www-authenticate"] = bearer ? 'Bearer realm="portico", error="invalid_token"' : 'Bearer realm="portico"';
  const cookies = ctx.store.get(SET_COOKIES) as string[] | undefined;
  if (cookies) headers["set-cookie"] = cookies;
  return ctx.exit(status, { message, requestId: ctx.requestId }, headers);
}

function answer(ctx: RequestPhaseContext, result: Answer) {
  const headers: OutgoingHttpHeaders = { "cache-control": "no-store" };
  if (result.cookies.length > 0) headers["set-cookie"] = result.cookies;
  if (result.location !== undefined) headers.location = result.location;
  if (result.body !== undefined) headers["content-type"] = "text/plain; charset=utf-8";
  return ctx.exit(result.status, result.body ?? "", headers);
}

function wantsRedirect(headers: IncomingHttpHeaders, method: string): boolean {
  if (method !== "GET" && method !== "HEAD") return false;
  const accept = headers.accept;
  if (typeof accept !== "string" || !accept.includes("text/html")) return false;
  return String(headers["x-requested-with"] ?? "").toLowerCase() !== "xmlhttprequest";
}

function claimValue(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value === "string") return value;
  if (Array.isArray(value)) return value.map((v) => (typeof v === "string" ? v : JSON.stringify(v))).join(", ");
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** Marks the request as authenticated: ctx.jwt, ctx.consumer and the upstream headers. */
function authenticate(
  ctx: RequestPhaseContext,
  st: OidcState,
  claims: Record<string, unknown>,
  tokens: { idToken?: string | undefined; accessToken?: string | undefined },
) {
  ctx.jwt = Object.freeze({ ...claims });
  const sub = typeof claims.sub === "string" ? claims.sub : String(claims.client_id ?? "");
  applyConsumer(ctx, { name: sub, groups: [] }, { headers: st.consumerHeaders });
  const headers = ctx.request.headers;
  if (st.idTokenHeader !== null && tokens.idToken) headers[st.idTokenHeader] = tokens.idToken;
  if (st.accessTokenHeader !== null && tokens.accessToken) headers[st.accessTokenHeader] = tokens.accessToken;
  // The session cookie stays between the browser and the gateway.
  const cookie = headers.cookie;
  if (cookie !== undefined && st.rp !== null) {
    const kept = cookie.split(";").filter((pair) => !st.ownCookie.test(pair.slice(0, pair.indexOf("=")).trim()));
    if (kept.length === 0) delete headers.cookie;
    else headers.cookie = kept.join(";").trim();
  }
  for (const [header, claim] of st.claimHeaders) {
    const value = claimValue(claims[claim]);
    // Header values cannot carry CR/LF; a claim that has them is not sent.
    if (value !== null && !/[\r\n\0]/.test(value)) headers[header] = value;
  }
}

export const openidConnect = definePlugin({
  name: "openidConnect",
  priority: 2600,
  description: "OpenID Connect: bearer tokens (JWKS or introspection) and browser login (code flow + PKCE, session cookie, refresh, logout).",
  schema: openidConnectSchema,
  init,
  async access(ctx, st) {
    const headers = ctx.request.headers;
    // Forged identity headers never reach the upstream, whatever happens next.
    stripConsumerHeaders(headers, st.consumerHeaders);
    for (const name of st.ownHeaders) clearHeader(headers, name);

    const path = ctx.request.path;
    const rp = st.rp;
    if (rp !== null) {
      if (path === rp.callbackPath) {
        const query = ctx.request.url.includes("?") ? ctx.request.url.slice(ctx.request.url.indexOf("?")) : "";
        const result = await rp.callback(originOf(ctx), query);
        if (!result.ok)
          return deny(ctx, st, result.unavailable ? "PTC_ERR_AUTH_OIDC_PROVIDER_UNAVAILABLE" : "PTC_ERR_AUTH_OIDC_CALLBACK_FAILED", result.reason, false);
        return answer(ctx, result.answer);
      }
      if (path === st.logoutPath) return answer(ctx, await rp.logout(originOf(ctx)));
    }

    const authorization = headers.authorization;
    if (authorization !== undefined && /^bearer\s/i.test(authorization)) {
      const token = authorization.slice(7).trim();
      if (token === "") return deny(ctx, st, "PTC_ERR_AUTH_OIDC_TOKEN_INVALID", "empty bearer token", true);
      const result = await verifyBearer(st.handle, token, st.bearer);
      if (!result.ok)
        return deny(ctx, st, result.unavailable ? "PTC_ERR_AUTH_OIDC_PROVIDER_UNAVAILABLE" : "PTC_ERR_AUTH_OIDC_TOKEN_INVALID", result.reason, true);
      authenticate(ctx, st, result.claims, { accessToken: token });
      return undefined;
    }
    if (rp === null) return deny(ctx, st, "PTC_ERR_AUTH_OIDC_UNAUTHENTICATED", "no bearer token", false);

    const origin = originOf(ctx);
    let reason: string | null = null;
    try {
      const found = await rp.session(origin);
      if (found.cookies) ctx.store.set(SET_COOKIES, found.cookies);
      if (found.session) {
        authenticate(ctx, st, found.session.claims, found.session);
        return undefined;
      }
      reason = found.reason;
    } catch (error) {
      // Redis away, for one: fail closed.
      return deny(ctx, st, "PTC_ERR_AUTH_OIDC_PROVIDER_UNAVAILABLE", `session store failed: ${(error as Error).message}`, false);
    }
    const redirect = st.unauthAction === "redirect" || (st.unauthAction === "auto" && wantsRedirect(headers, ctx.request.method));
    if (!redirect) return deny(ctx, st, "PTC_ERR_AUTH_OIDC_UNAUTHENTICATED", reason ?? "no session and no bearer token", false);
    let login: Answer;
    try {
      login = await rp.startLogin(origin, ctx.request.url);
    } catch (error) {
      return deny(ctx, st, "PTC_ERR_AUTH_OIDC_PROVIDER_UNAVAILABLE", `provider unavailable: ${(error as Error).message}`, false);
    }
    if (reason !== null) st.logger.info({ requestId: ctx.requestId, reason }, "openidConnect: session dropped, login again");
    const dropped = ctx.store.get(SET_COOKIES) as string[] | undefined;
    if (dropped) login.cookies.push(...dropped);
    return answer(ctx, login);
  },
  headerFilter(ctx) {
    const cookies = ctx.store.get(SET_COOKIES) as string[] | undefined;
    if (!cookies) return;
    const current = ctx.response.headers["set-cookie"];
    const existing = current === undefined ? [] : Array.isArray(current) ? current : [String(current)];
    // Our own exits already carry them.
    if (cookies.every((cookie) => existing.includes(cookie))) return;
    ctx.response.headers["set-cookie"] = [...existing, ...cookies];
  },
});
