/**
 * The OpenID Provider as the plugin sees it: its discovered configuration (openid-client), its
 * JWKS (jose's remote key set: refetched when a token names an unknown key, so a rotation at the
 * provider is followed) and the introspection cache. Kept across reloads with env.keep(): a
 * reload with the same issuer and client does not rediscover.
 *
 * Discovery runs at load; when the provider cannot be reached then, the load still succeeds and
 * discovery is retried on the next request that needs it (as Kong does), at most once per
 * RETRY_MS: until it succeeds those requests get 502.
 */

import { createRemoteJWKSet, type JWTVerifyGetKey } from "jose";
import { LRUCache } from "lru-cache";
import * as oidc from "openid-client";

const RETRY_MS = 2000;

export interface ProviderSettings {
  issuer: string;
  clientId: string;
  clientSecret: string | null;
  /** openid-client refuses http:// unless told: only for loopback issuers or allowInsecureHttp. */
  insecure: boolean;
  timeoutMs: number;
  jwksCooldownMs: number;
  jwksMaxAgeMs: number;
}

export interface IntrospectionEntry {
  claims: Record<string, unknown> | null;
  until: number;
}

export class ProviderHandle {
  readonly settings: ProviderSettings;
  /** Introspection answers by token digest (negative answers too: an inactive token stays inactive). */
  readonly introspectionCache = new LRUCache<string, IntrospectionEntry>({ max: 10_000 });
  #config: oidc.Configuration | null = null;
  #jwks: JWTVerifyGetKey | null = null;
  #pending: Promise<oidc.Configuration> | null = null;
  #failedAt = 0;
  #lastError: unknown = null;

  constructor(settings: ProviderSettings) {
    this.settings = settings;
  }

  /** The discovered configuration; discovers (once at a time, at most once per RETRY_MS after a failure). */
  config(): oidc.Configuration | Promise<oidc.Configuration> {
    if (this.#config) return this.#config;
    if (this.#pending) return this.#pending;
    if (Date.now() - this.#failedAt < RETRY_MS) return Promise.reject(this.#lastError);
    const s = this.settings;
    const auth = s.clientSecret !== null ? oidc.ClientSecretBasic(s.clientSecret) : oidc.None();
    const options: oidc.DiscoveryRequestOptions = { timeout: Math.ceil(s.timeoutMs / 1000) };
    if (s.insecure) options.execute = [oidc.allowInsecureRequests];
    this.#pending = oidc.discovery(new URL(s.issuer), s.clientId, s.clientSecret !== null ? { client_secret: s.clientSecret } : undefined, auth, options).then(
      (config) => {
        this.#config = config;
        this.#pending = null;
        return config;
      },
      (error: unknown) => {
        this.#pending = null;
        this.#failedAt = Date.now();
        this.#lastError = error;
        throw error;
      },
    );
    return this.#pending;
  }

  /** The provider's key set, for jose's jwtVerify. */
  async jwks(): Promise<JWTVerifyGetKey> {
    if (this.#jwks) return this.#jwks;
    const config = await this.config();
    const uri = config.serverMetadata().jwks_uri;
    if (!uri) throw new Error("the provider's metadata has no jwks_uri");
    this.#jwks = createRemoteJWKSet(new URL(uri), {
      cooldownDuration: this.settings.jwksCooldownMs,
      cacheMaxAge: this.settings.jwksMaxAgeMs,
      timeoutDuration: this.settings.timeoutMs,
    });
    return this.#jwks;
  }

  close(): void {
    this.introspectionCache.clear();
  }
}
