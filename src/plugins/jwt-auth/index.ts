/**
 * jwtAuth: JSON Web Tokens verified with jose (HS*, RS*, PS*, ES*, EdDSA). Keys: the plugin's own
 * (secret, public key, or a JWKS URL: cached, refetched on an unknown kid at most once per
 * jwksCooldown), or the jwtAuth credentials of consumers, found by the token's kid or its
 * keyClaimName claim (iss), as Kong does. `alg: none` is always refused, and each key accepts only
 * its allow-listed algorithms. exp/nbf/iat are checked with clockSkew, iss and aud when set.
 *
 * Speed: a verified token is remembered in an LRU (key: the token string) until
 * min(exp, now + cacheTtl), so that a repeated token costs a map lookup instead of a signature check.
 */
import { createSecretKey, type KeyObject } from "node:crypto";
import {
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  errors,
  type JWTPayload,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
  jwtVerify,
  type ProtectedHeaderParameters,
} from "jose";
import { LRUCache } from "lru-cache";
import type { z } from "zod";
import { parseTime } from "../../config/units.js";
import {
  type AuthRejectState,
  algorithmOf,
  anonymousConsumer,
  applyConsumer,
  authenticatedBefore,
  type ConsumerHeaderNames,
  type ConsumerRegistry,
  compileConsumerHeaders,
  consumerRegistry,
  JWT_ALGORITHMS,
  parsePublicKey,
  readCookie,
  rejectAuth,
  removeCookie,
  stripConsumerHeaders,
} from "../../consumers/index.js";
import type { Consumer, Exit, RequestPhaseContext } from "../../lifecycle/context.js";
import { definePlugin, type PluginEnv } from "../../lifecycle/plugin.js";
import { type JwtAuthConfig, jwtAuthSchema } from "./schema.js";

declare module "../../config/schema.js" {
  interface PluginConfigMap {
    jwtAuth: z.input<typeof jwtAuthSchema>;
  }
}

interface Verified {
  readonly claims: Readonly<Record<string, unknown>>;
  readonly consumer: Consumer | null;
  readonly credential: string | undefined;
  /** Epoch ms after which the entry is no longer used. */
  readonly until: number;
}

type Source = { kind: "header"; name: string } | { kind: "query"; name: string } | { kind: "cookie"; name: string };

interface JwtAuthState extends AuthRejectState {
  readonly registry: ConsumerRegistry | null;
  readonly consumerLookup: ConsumerRegistry;
  readonly key: KeyObject | JWTVerifyGetKey | null;
  readonly algorithms: readonly string[];
  readonly verify: JWTVerifyOptions;
  readonly keyClaim: string;
  readonly consumerClaim: string;
  readonly requireConsumer: boolean;
  readonly headerNames: readonly string[];
  readonly uriParamNames: readonly string[];
  readonly cookieNames: readonly string[];
  readonly cache: LRUCache<string, Verified> | null;
  readonly cacheTtl: number;
  readonly hide: boolean;
  readonly challenge: string;
  readonly invalidChallenge: string;
  readonly headers: ConsumerHeaderNames | false;
  readonly anonymous: Consumer | null;
}

const ASYMMETRIC = JWT_ALGORITHMS.filter((alg) => !alg.startsWith("HS"));

/** A JWKS that could not be fetched: 502, not the client's fault. */
class JwksUnavailable extends Error {}

async function pluginKey(conf: JwtAuthConfig, env: PluginEnv) {
  const read = async (file: string) => {
    try {
      return (await env.readFile(file)).toString("utf8").trim();
    } catch (err) {
      throw new Error(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  if (conf.secret !== undefined || conf.secretFile !== undefined) {
    const value = conf.secret ?? (await read(conf.secretFile as string));
    const bytes = conf.secretIsBase64 ? Buffer.from(value, "base64") : Buffer.from(value, "utf8");
    if (bytes.length < 32) throw new Error("an HMAC secret needs at least 32 bytes");
    return { key: createSecretKey(bytes), algorithms: conf.algorithms ?? ["HS256"] };
  }
  if (conf.publicKey !== undefined || conf.publicKeyFile !== undefined) {
    const key = parsePublicKey(conf.publicKey ?? (await read(conf.publicKeyFile as string)), conf.publicKeyFile ?? "publicKey");
    return { key, algorithms: conf.algorithms ?? [algorithmOf(key, "publicKey")] };
  }
  if (conf.jwksUri !== undefined) {
    const options = {
      cooldownDuration: parseTime(conf.jwksCooldown),
      cacheMaxAge: parseTime(conf.jwksCacheMaxAge),
      timeoutDuration: parseTime(conf.jwksTimeout),
    };
    // Kept across reloads: a reload does not refetch the keys.
    const set = env.keep(`jwks:${conf.jwksUri}:${JSON.stringify(options)}`, () => ({ get: createRemoteJWKSet(new URL(conf.jwksUri as string), options) })).get;
    const key: JWTVerifyGetKey = async (header, token) => {
      try {
        return await set(header, token);
      } catch (err) {
        if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) throw err;
        throw new JwksUnavailable((err as Error).message, { cause: err });
      }
    };
    return { key, algorithms: conf.algorithms ?? ASYMMETRIC };
  }
  return { key: null, algorithms: [] as string[] };
}

export const jwtAuth = definePlugin({
  name: "jwtAuth",
  priority: 2510,
  description:
    "JSON Web Tokens (Kong jwt): HS*/RS*/ES*/EdDSA with a secret, public key, JWKS URL or consumers' credentials; exp/nbf/iss/aud checked; claims on ctx.jwt.",
  schema: jwtAuthSchema,
  async init(conf: JwtAuthConfig, env): Promise<JwtAuthState> {
    const registry = await consumerRegistry(env);
    const { key, algorithms } = await pluginKey(conf, env);
    const cacheTtl = parseTime(conf.cacheTtl);
    const realm = `Bearer realm="${conf.realm}"`;
    return {
      plugin: "jwtAuth",
      logger: env.logger,
      registry: conf.consumers && registry.hasJwtCredentials ? registry : null,
      consumerLookup: registry,
      key,
      algorithms,
      verify: {
        issuer: conf.issuer,
        audience: conf.audience,
        clockTolerance: Math.round(parseTime(conf.clockSkew) / 1000),
        requiredClaims: conf.requireExp ? ["exp"] : [],
      },
      keyClaim: conf.keyClaimName,
      consumerClaim: conf.consumerClaim,
      requireConsumer: conf.requireConsumer,
      headerNames: conf.headerNames.map((name) => name.toLowerCase()),
      uriParamNames: conf.uriParamNames,
      cookieNames: conf.cookieNames,
      cache: conf.cacheSize > 0 && cacheTtl > 0 ? new LRUCache<string, Verified>({ max: conf.cacheSize }) : null,
      cacheTtl,
      hide: conf.hideCredentials,
      challenge: realm,
      invalidChallenge: `${realm}, error="invalid_token"`,
      headers: compileConsumerHeaders(conf.consumerHeaders),
      anonymous: anonymousConsumer(conf.anonymous, (name) => registry.get(name)),
    };
  },
  async access(ctx, st) {
    // Forged identity headers go first; an earlier auth plugin that authenticated removed them already.
    if (ctx.consumer === null) stripConsumerHeaders(ctx.request.headers, st.headers);
    if (st.anonymous !== null && authenticatedBefore(ctx)) return undefined;
    const found = findToken(ctx, st);
    if (found === null) return rejectAuth(ctx, st, "PTC_ERR_AUTH_MISSING", "no token in the request", st.challenge);
    const [token, source] = found;
    let verified = st.cache?.get(token);
    if (verified !== undefined && verified.until <= Date.now()) {
      st.cache?.delete(token);
      verified = undefined;
    }
    if (verified === undefined) {
      const outcome = await verify(ctx, st, token);
      if (!("claims" in outcome)) return outcome.exit;
      verified = outcome;
      st.cache?.set(token, verified);
    }
    if (st.hide) hideToken(ctx, source);
    ctx.jwt = verified.claims;
    if (verified.consumer !== null) applyConsumer(ctx, verified.consumer, { headers: st.headers, credential: verified.credential });
    return undefined;
  },
});

function findToken(ctx: RequestPhaseContext, st: JwtAuthState): [string, Source] | null {
  const headers = ctx.request.headers;
  for (const name of st.headerNames) {
    const value = headers[name];
    if (typeof value !== "string" || value === "") continue;
    const bearer = /^bearer\s+(\S+)\s*$/i.exec(value);
    if (bearer) return [bearer[1] as string, { kind: "header", name }];
    if (name !== "authorization" && !/\s/.test(value)) return [value, { kind: "header", name }];
  }
  if (st.uriParamNames.length > 0 && ctx.request.url.includes("?")) {
    const query = ctx.request.query;
    for (const name of st.uriParamNames) {
      const value = query.get(name);
      if (value) return [value, { kind: "query", name }];
    }
  }
  if (st.cookieNames.length > 0 && headers.cookie !== undefined) {
    for (const name of st.cookieNames) {
      const value = readCookie(headers, name);
      if (value) return [value, { kind: "cookie", name }];
    }
  }
  return null;
}

function hideToken(ctx: RequestPhaseContext, source: Source): void {
  if (source.kind === "header") ctx.request.headers[source.name] = undefined;
  else if (source.kind === "cookie") removeCookie(ctx.request.headers, source.name);
  else {
    const query = ctx.request.query;
    query.delete(source.name);
    ctx.request.query = query;
  }
}

type Outcome = Verified | { exit: Exit | undefined };

async function verify(ctx: RequestPhaseContext, st: JwtAuthState, token: string): Promise<Outcome> {
  const invalid = (reason: string, fields: Record<string, unknown> = {}): Outcome => ({
    exit: rejectAuth(ctx, st, "PTC_ERR_AUTH_INVALID", reason, st.invalidChallenge, 401, fields),
  });
  let header: ProtectedHeaderParameters;
  let payload: JWTPayload;
  try {
    header = decodeProtectedHeader(token);
    payload = decodeJwt(token);
  } catch {
    return invalid("malformed token");
  }
  const alg = header.alg;
  if (typeof alg !== "string" || alg.toLowerCase() === "none") return invalid("unsigned token (alg: none) refused");

  // Which key: a consumer's credential (by kid, then by the key claim), else the plugin's own.
  let key: KeyObject | JWTVerifyGetKey | null = null;
  let algorithms: readonly string[] = st.algorithms;
  let consumer: Consumer | null = null;
  let credential: string | undefined;
  if (st.registry !== null) {
    const claim = payload[st.keyClaim];
    const found =
      (typeof header.kid === "string" ? st.registry.jwtCredential(header.kid) : undefined) ??
      (typeof claim === "string" ? st.registry.jwtCredential(claim) : undefined);
    if (found !== undefined) {
      key = found.keyObject;
      algorithms = [found.algorithm];
      consumer = found.consumer;
      credential = found.key;
    }
  }
  if (key === null) key = st.key;
  if (key === null) return invalid(`no credential matches the token's kid or ${st.keyClaim} claim`, { kid: header.kid });
  if (!algorithms.includes(alg)) return invalid(`algorithm ${alg} is not allowed (allowed: ${algorithms.join(", ")})`);

  let claims: JWTPayload;
  try {
    const options: JWTVerifyOptions = { ...st.verify, algorithms: algorithms as string[] };
    claims = typeof key === "function" ? (await jwtVerify(token, key, options)).payload : (await jwtVerify(token, key, options)).payload;
  } catch (err) {
    if (err instanceof JwksUnavailable) {
      return { exit: rejectAuth(ctx, st, "PTC_ERR_AUTH_JWKS_UNAVAILABLE", `JWKS unavailable: ${err.message}`, "", 502) };
    }
    return invalid(reasonOf(err), { kid: header.kid, iss: typeof payload.iss === "string" ? payload.iss : undefined });
  }

  if (consumer === null) {
    const name = claims[st.consumerClaim];
    if (typeof name === "string" && name !== "") consumer = st.consumerLookup.get(name) ?? null;
    if (consumer === null && st.requireConsumer) return invalid(`the token's ${st.consumerClaim} claim names no consumer`);
    if (consumer === null && typeof name === "string" && name !== "") consumer = Object.freeze({ name, groups: Object.freeze([]) });
  }
  const now = Date.now();
  const until = Math.min(now + st.cacheTtl, typeof claims.exp === "number" ? claims.exp * 1000 : Number.POSITIVE_INFINITY);
  return { claims: Object.freeze(claims), consumer, credential, until };
}

function reasonOf(err: unknown): string {
  if (err instanceof errors.JWTExpired) return "token expired";
  if (err instanceof errors.JWTClaimValidationFailed) return `claim ${err.claim} check failed: ${err.reason}`;
  if (err instanceof errors.JWSSignatureVerificationFailed) return "bad signature";
  if (err instanceof errors.JWKSNoMatchingKey) return "no key of the JWKS matches the token's kid and alg";
  if (err instanceof errors.JOSEAlgNotAllowed) return "algorithm not allowed";
  if (err instanceof errors.JOSEError) return `invalid token (${err.code})`;
  return "invalid token";
}
