/**
 * The resource-server role: a bearer token is a JWT verified against the provider's JWKS (jose:
 * signature by a key of the set, alg in the allowed list — never `none` or HMAC —, iss, aud, exp,
 * nbf), or an opaque token checked by introspection (RFC 7662), with a cache.
 */
import { createHash } from "node:crypto";
import { errors as joseErrors, jwtVerify } from "jose";
import * as oidc from "openid-client";
import type { ProviderHandle } from "./provider.js";

export interface BearerSettings {
  jwt: boolean;
  introspection: boolean;
  introspectionTtlMs: number;
  audiences: string[];
  algorithms: string[];
  clockSkewS: number;
}

export type BearerResult =
  | { ok: true; claims: Record<string, unknown> }
  /** unavailable: the provider could not be asked (502), not a bad token (401). */
  | { ok: false; reason: string; unavailable: boolean };

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

function refused(reason: string): BearerResult {
  return { ok: false, reason, unavailable: false };
}

function audienceMatches(aud: unknown, audiences: string[]): boolean {
  const list = Array.isArray(aud) ? aud : typeof aud === "string" ? [aud] : [];
  return list.some((value) => audiences.includes(value as string));
}

export async function verifyBearer(handle: ProviderHandle, token: string, s: BearerSettings): Promise<BearerResult> {
  if (JWT_SHAPE.test(token)) {
    if (!s.jwt) return refused("bearer JWTs are not accepted here (bearerJwtAuth: false)");
    let keys: Awaited<ReturnType<ProviderHandle["jwks"]>>;
    try {
      keys = await handle.jwks();
    } catch (error) {
      return { ok: false, reason: `provider unavailable: ${(error as Error).message}`, unavailable: true };
    }
    try {
      const { payload } = await jwtVerify(token, keys, {
        issuer: handle.settings.issuer,
        audience: s.audiences,
        algorithms: s.algorithms,
        clockTolerance: s.clockSkewS,
        requiredClaims: ["exp", "sub"],
      });
      return { ok: true, claims: payload as Record<string, unknown> };
    } catch (error) {
      if (error instanceof joseErrors.JWKSTimeout || (error instanceof TypeError && /fetch/i.test(error.message))) {
        return { ok: false, reason: `JWKS unavailable: ${error.message}`, unavailable: true };
      }
      const code = (error as { code?: string }).code ?? "ERR_JWT_INVALID";
      return refused(`${code}: ${(error as Error).message}`);
    }
  }
  if (!s.introspection) return refused("not a JWT, and introspection is off");
  if (!/^[\x21-\x7e]+$/.test(token)) return refused("malformed token");

  const digest = createHash("sha256").update(token).digest("base64url");
  const now = Date.now();
  const cached = handle.introspectionCache.get(digest);
  if (cached && cached.until > now) return cached.claims ? { ok: true, claims: cached.claims } : refused("introspection: inactive (cached)");

  let answer: oidc.IntrospectionResponse;
  try {
    answer = await oidc.tokenIntrospection(await handle.config(), token);
  } catch (error) {
    return { ok: false, reason: `introspection failed: ${(error as Error).message}`, unavailable: true };
  }
  const remember = (claims: Record<string, unknown> | null, until: number) => {
    if (s.introspectionTtlMs > 0 && until > now) handle.introspectionCache.set(digest, { claims, until });
  };
  const ttlEnd = now + s.introspectionTtlMs;
  if (answer.active !== true) {
    remember(null, ttlEnd);
    return refused("introspection: inactive");
  }
  const exp = typeof answer.exp === "number" ? answer.exp * 1000 : null;
  if (exp !== null && exp + s.clockSkewS * 1000 <= now) return refused("introspection: expired");
  if (answer.aud !== undefined && !audienceMatches(answer.aud, s.audiences)) {
    remember(null, ttlEnd);
    return refused("introspection: wrong audience");
  }
  const claims = { ...answer } as Record<string, unknown>;
  remember(claims, exp !== null ? Math.min(ttlEnd, exp) : ttlEnd);
  return { ok: true, claims };
}
