import { z } from "zod";
import { TimeSchema } from "../../config/schema.js";
import { consumerHeadersSchema } from "../../consumers/schema.js";

const HEADER = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const HeaderName = z.string().regex(HEADER, "not a header name");

/** A path on this gateway ("/callback") or an absolute http(s) URL. */
const PathOrUrl = z.string().refine((value) => (value.startsWith("/") && !value.startsWith("//")) || /^https?:\/\/[^/?#\s]+(\/[^\s]*)?$/i.test(value), {
  message: 'expected a path such as "/callback" or an absolute URL such as "https://app.example.com/callback"',
});

function isLoopback(hostname: string): boolean {
  return hostname === "localhost" || hostname === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

export const DEFAULT_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"] as const;

export const openidConnectSchema = z
  .strictObject({
    issuer: z.url({ protocol: /^https?$/ }).describe("The OpenID Provider's issuer URL; its /.well-known/openid-configuration is fetched at load (discovery)."),
    clientId: z.string().min(1).describe("This gateway's client id at the provider (the default expected audience of bearer JWTs)."),
    clientSecret: z.string().min(1).optional().describe("Client secret (client_secret_basic). Prefer clientSecretFile."),
    clientSecretFile: z.string().min(1).optional().describe("File holding the client secret (trailing newline ignored), relative to the config file."),
    redirectUri: PathOrUrl.optional().describe(
      'Where the provider sends the browser back: a path ("/callback", resolved against the request\'s Host) or an absolute URL. Answered by the plugin on every location it is set on. Required unless bearerOnly.',
    ),
    scopes: z
      .array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, "not a scope token"))
      .default(["openid"])
      .refine((scopes) => scopes.includes("openid"), { message: 'scopes must include "openid"' })
      .describe('Scopes asked for at login (default ["openid"]; add "email", "profile", "offline_access" as needed).'),
    bearerOnly: z.boolean().default(false).describe("Resource server only: accept bearer tokens, never start a browser login (401 instead)."),
    bearerJwtAuth: z.boolean().default(true).describe("Verify bearer JWTs locally against the provider's JWKS (signature, iss, aud, exp, nbf)."),
    introspection: z.boolean().default(false).describe("Check opaque (non-JWT) bearer tokens at the provider's introspection endpoint (RFC 7662)."),
    introspectionCacheTtl: TimeSchema.default("60s").describe(
      'How long an introspection answer is cached, never past the token\'s exp (default "60s"; 0 = no cache).',
    ),
    audience: z
      .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
      .optional()
      .describe("Audience a bearer token must carry (one of); default: clientId."),
    algorithms: z
      .array(z.enum(DEFAULT_ALGORITHMS))
      .min(1)
      .default([...DEFAULT_ALGORITHMS])
      .describe("JWS algorithms accepted for bearer JWTs (asymmetric only; `none` and HMAC are never accepted)."),
    clockSkew: TimeSchema.default("30s").describe('Leeway for exp/nbf/iat checks (default "30s").'),
    jwksRefreshCooldown: TimeSchema.default("30s").describe(
      'Least time between two JWKS refetches caused by a token with an unknown key id (default "30s"): key rotation is followed, floods of made-up kids are not.',
    ),
    jwksCacheMaxAge: TimeSchema.default("10m").describe('How long the fetched JWKS is used before it is refetched (default "10m").'),
    sessionSecret: z
      .string()
      .min(32, "sessionSecret must be at least 32 characters")
      .optional()
      .describe("Secret (≥ 32 characters) the session cookie's encryption key is derived from. Prefer sessionSecretFile. Required unless bearerOnly."),
    sessionSecretFile: z.string().min(1).optional().describe("File holding the session secret (≥ 32 bytes), relative to the config file."),
    sessionCookieName: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/, "letters, digits, _ and - only")
      .default("portico_session")
      .describe('Name of the session cookie (chunks: NAME.0, NAME.1, …; the login state uses NAME_auth). Default "portico_session".'),
    sessionLifetime: TimeSchema.default("24h").describe('Absolute lifetime of a session, whatever the token refreshes (default "24h").'),
    sessionStore: z
      .enum(["cookie", "redis"])
      .default("cookie")
      .describe('"cookie": the whole (encrypted) session in the cookie; "redis": in the top-level redis, the cookie holds only an encrypted id.'),
    sessionCookieSecure: z
      .boolean()
      .optional()
      .describe("Secure attribute of the cookies; default: on when redirectUri is https:// or the request came over TLS."),
    refreshBeforeExpiry: TimeSchema.default("30s").describe(
      'Refresh the access token (with the refresh token) this long before it expires (default "30s"); without a refresh token the session ends then.',
    ),
    userinfo: z.boolean().default(true).describe("At login, fetch the userinfo endpoint and keep its claims in the session (for setClaimHeaders)."),
    logoutPath: z
      .string()
      .regex(/^\/[^\s?#]*$/, "expected a path")
      .default("/logout")
      .describe('Path that ends the session (on locations where the plugin is set); default "/logout".'),
    postLogoutRedirectUri: PathOrUrl.optional().describe("Where the browser lands after logout (sent to the provider as post_logout_redirect_uri)."),
    rpInitiatedLogout: z
      .boolean()
      .default(true)
      .describe("At logout, also end the session at the provider (its end_session_endpoint, RP-initiated logout) when it has one."),
    setIdTokenHeader: z.union([z.boolean(), HeaderName]).default(false).describe("Send the ID token upstream: true for X-ID-Token, or a header name."),
    setAccessTokenHeader: z
      .union([z.boolean(), HeaderName])
      .default(false)
      .describe("Send the access token upstream: true for X-Access-Token, or a header name."),
    setClaimHeaders: z
      .record(HeaderName, z.string().min(1))
      .default({})
      .describe('Headers to send upstream from claims: { "X-User-Email": "email" }. Arrays are joined with ", ", objects sent as JSON.'),
    unauthAction: z
      .enum(["auto", "redirect", "deny"])
      .default("auto")
      .describe(
        "Without a session or token: auto (browsers — Accept text/html, not XHR, GET/HEAD — are redirected to log in, other calls get 401), redirect, or deny (401).",
      ),
    consumerHeaders: consumerHeadersSchema,
    allowInsecureHttp: z
      .boolean()
      .default(false)
      .describe("Allow an http:// issuer that is not on loopback (loopback issuers are always allowed). For tests and closed networks only."),
    timeout: TimeSchema.default("5s").describe('Longest wait for the provider (discovery, JWKS, token, introspection), default "5s".'),
  })
  .superRefine((conf, ctx) => {
    if (conf.clientSecret !== undefined && conf.clientSecretFile !== undefined) {
      ctx.addIssue({ code: "custom", path: ["clientSecretFile"], message: "set clientSecret or clientSecretFile, not both" });
    }
    if (conf.sessionSecret !== undefined && conf.sessionSecretFile !== undefined) {
      ctx.addIssue({ code: "custom", path: ["sessionSecretFile"], message: "set sessionSecret or sessionSecretFile, not both" });
    }
    const issuer = URL.canParse(conf.issuer) ? new URL(conf.issuer) : null;
    if (issuer && issuer.protocol === "http:" && !isLoopback(issuer.hostname) && !conf.allowInsecureHttp) {
      ctx.addIssue({
        code: "custom",
        path: ["issuer"],
        message: "an http:// issuer must be on loopback; use https:// (or allowInsecureHttp: true on a closed network)",
      });
    }
    if (!conf.bearerOnly) {
      if (conf.redirectUri === undefined) ctx.addIssue({ code: "custom", path: ["redirectUri"], message: "redirectUri is required unless bearerOnly: true" });
      if (conf.sessionSecret === undefined && conf.sessionSecretFile === undefined) {
        ctx.addIssue({ code: "custom", path: ["sessionSecret"], message: "sessionSecret or sessionSecretFile is required unless bearerOnly: true" });
      }
      if (conf.clientSecret === undefined && conf.clientSecretFile === undefined) {
        ctx.addIssue({ code: "custom", path: ["clientSecret"], message: "clientSecret or clientSecretFile is required unless bearerOnly: true" });
      }
    }
    if (conf.introspection && conf.clientSecret === undefined && conf.clientSecretFile === undefined) {
      ctx.addIssue({ code: "custom", path: ["clientSecret"], message: "introspection needs clientSecret or clientSecretFile" });
    }
  })
  .describe("OpenID Connect: a resource server for bearer tokens and a relying party (login, session cookie, refresh, logout) for browsers.");

export type OpenidConnectConfig = z.output<typeof openidConnectSchema>;
