/**
 * The relying-party role, for browsers: the authorization code flow with PKCE (S256), state and
 * nonce (openid-client checks them at the callback), a session (session.ts), refresh of the
 * access token before it expires, and logout (local, then RP-initiated at the provider's
 * end_session_endpoint).
 */
import type { IncomingHttpHeaders } from "node:http";
import * as oidc from "openid-client";
import type { ProviderHandle } from "./provider.js";
import { type AuthState, parseCookies, readChunked, type SessionCodec, type SessionData, type SessionStore, writeChunked } from "./session.js";

/** How long a started login may take before its state cookie expires. */
const LOGIN_TTL_MS = 10 * 60_000;

export interface RelyingPartySettings {
  redirectUri: string;
  scope: string;
  cookieName: string;
  secure: boolean | null;
  lifetimeMs: number;
  refreshBeforeMs: number;
  userinfo: boolean;
  postLogoutRedirectUri: string | null;
  rpInitiatedLogout: boolean;
}

/** What the request tells about where it was sent: to resolve path-only redirect URIs. */
export interface RequestOrigin {
  headers: IncomingHttpHeaders;
  /** Whether it came over TLS. */
  tls: boolean;
}

/** An answer for the plugin to give: a redirect (or page) and cookies to set. */
export interface Answer {
  status: number;
  location?: string;
  body?: string;
  cookies: string[];
}

export type CallbackResult = { ok: true; answer: Answer } | { ok: false; reason: string; unavailable: boolean };

export type SessionResult =
  | { session: SessionData; cookies: string[] | null }
  /** No usable session; `cookies` delete what the browser holds, `reason` is for the log. */
  | { session: null; cookies: string[] | null; reason: string | null };

function absolute(uri: string, origin: RequestOrigin): string {
  if (!uri.startsWith("/")) return uri;
  const host = origin.headers.host ?? "localhost";
  return `${origin.tls ? "https" : "http"}://${host}${uri}`;
}

export class RelyingParty {
  readonly #handle: ProviderHandle;
  readonly #codec: SessionCodec;
  readonly #store: SessionStore;
  readonly #s: RelyingPartySettings;
  /** Refreshes in flight by refresh token, so that parallel requests of one browser refresh once. */
  readonly #refreshing = new Map<string, Promise<SessionData | null>>();

  constructor(handle: ProviderHandle, codec: SessionCodec, store: SessionStore, settings: RelyingPartySettings) {
    this.#handle = handle;
    this.#codec = codec;
    this.#store = store;
    this.#s = settings;
  }

  get callbackPath(): string {
    return this.#s.redirectUri.startsWith("/") ? (this.#s.redirectUri.split("?")[0] as string) : new URL(this.#s.redirectUri).pathname;
  }

  #secure(origin: RequestOrigin): boolean {
    return this.#s.secure ?? (origin.tls || this.#s.redirectUri.startsWith("https:"));
  }

  /** The redirect to the provider's login, remembering `target` (path and query as received). */
  async startLogin(origin: RequestOrigin, target: string): Promise<Answer> {
    const config = await this.#handle.config();
    const auth: AuthState = { state: oidc.randomState(), nonce: oidc.randomNonce(), verifier: oidc.randomPKCECodeVerifier(), target };
    const url = oidc.buildAuthorizationUrl(config, {
      response_type: "code",
      redirect_uri: absolute(this.#s.redirectUri, origin),
      scope: this.#s.scope,
      state: auth.state,
      nonce: auth.nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(auth.verifier),
      code_challenge_method: "S256",
    });
    const sealed = await this.#codec.seal(auth, "auth", Date.now() + LOGIN_TTL_MS);
    const cookies = writeChunked(new Map(), `${this.#s.cookieName}_auth`, sealed, { secure: this.#secure(origin), maxAge: LOGIN_TTL_MS / 1000 });
    return { status: 302, location: url.href, cookies };
  }

  /** The provider sent the browser back: exchange the code, open a session, go back to where the login started. */
  async callback(origin: RequestOrigin, rawQuery: string): Promise<CallbackResult> {
    const cookies = parseCookies(origin.headers);
    const secure = this.#secure(origin);
    const sealed = cookies.get(`${this.#s.cookieName}_auth`);
    const auth = sealed ? await this.#codec.open<AuthState>(sealed, "auth") : null;
    if (!auth) return { ok: false, reason: sealed ? "login state cookie invalid or expired" : "no login state cookie", unavailable: false };
    let config: oidc.Configuration;
    try {
      config = await this.#handle.config();
    } catch (error) {
      return { ok: false, reason: `provider unavailable: ${(error as Error).message}`, unavailable: true };
    }
    const current = new URL(absolute(this.#s.redirectUri, origin));
    current.search = rawQuery;
    let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
    try {
      tokens = await oidc.authorizationCodeGrant(config, current, {
        pkceCodeVerifier: auth.verifier,
        expectedState: auth.state,
        expectedNonce: auth.nonce,
        idTokenExpected: true,
      });
    } catch (error) {
      const unavailable = error instanceof TypeError || (error as { code?: string }).code === "OAUTH_TIMEOUT";
      return { ok: false, reason: `code exchange refused: ${(error as Error).message}`, unavailable };
    }
    const idClaims = (tokens.claims() ?? {}) as Record<string, unknown>;
    let userinfo: Record<string, unknown> = {};
    if (this.#s.userinfo && tokens.access_token && config.serverMetadata().userinfo_endpoint) {
      try {
        userinfo = (await oidc.fetchUserInfo(config, tokens.access_token, idClaims.sub as string)) as Record<string, unknown>;
      } catch {
        // Claims from the ID token still serve; the userinfo ones are a bonus.
      }
    }
    const now = Date.now();
    const session: SessionData = {
      sub: idClaims.sub as string,
      claims: { ...userinfo, ...idClaims },
      idToken: tokens.id_token,
      accessToken: tokens.access_token,
      refreshToken: tokens.refresh_token,
      expiresAt: typeof tokens.expires_in === "number" ? now + tokens.expires_in * 1000 : undefined,
      endsAt: now + this.#s.lifetimeMs,
    };
    const value = await this.#store.save(session, null);
    const set = [
      ...writeChunked(cookies, this.#s.cookieName, value, { secure, maxAge: this.#s.lifetimeMs / 1000 }),
      ...writeChunked(cookies, `${this.#s.cookieName}_auth`, null, { secure, maxAge: 0 }),
    ];
    const target = auth.target.startsWith("/") && !auth.target.startsWith("//") ? auth.target : "/";
    return { ok: true, answer: { status: 302, location: target, cookies: set } };
  }

  /** The request's session, refreshed when its access token is about to expire. */
  async session(origin: RequestOrigin): Promise<SessionResult> {
    const cookies = parseCookies(origin.headers);
    const value = readChunked(cookies, this.#s.cookieName);
    if (value === null) return { session: null, cookies: null, reason: null };
    const secure = this.#secure(origin);
    const drop = (reason: string): SessionResult => ({
      session: null,
      cookies: writeChunked(cookies, this.#s.cookieName, null, { secure, maxAge: 0 }),
      reason,
    });
    const session = await this.#store.load(value);
    if (!session) return drop("session cookie invalid, tampered with, or expired");
    const now = Date.now();
    if (session.endsAt <= now) return drop("session lifetime over");
    if (session.expiresAt === undefined || session.expiresAt - this.#s.refreshBeforeMs > now) return { session, cookies: null };
    if (!session.refreshToken) {
      if (session.expiresAt > now) return { session, cookies: null };
      return drop("access token expired and there is no refresh token");
    }
    const refreshed = await this.#refresh(session);
    if (!refreshed) {
      // The provider refused or could not be reached: the session lives on while its access token does.
      if (session.expiresAt > now) return { session, cookies: null };
      return drop("access token expired and the refresh failed");
    }
    const saved = await this.#store.save(refreshed, value);
    // A Redis session keeps its id: the cookie need not change.
    return {
      session: refreshed,
      cookies: saved === value ? null : writeChunked(cookies, this.#s.cookieName, saved, { secure, maxAge: (refreshed.endsAt - now) / 1000 }),
    };
  }

  #refresh(session: SessionData): Promise<SessionData | null> {
    const token = session.refreshToken as string;
    let pending = this.#refreshing.get(token);
    if (!pending) {
      pending = this.#doRefresh(session).finally(() => this.#refreshing.delete(token));
      this.#refreshing.set(token, pending);
    }
    return pending;
  }

  async #doRefresh(session: SessionData): Promise<SessionData | null> {
    try {
      const config = await this.#handle.config();
      const tokens = await oidc.refreshTokenGrant(config, session.refreshToken as string);
      const idClaims = tokens.id_token ? ((tokens.claims() ?? {}) as Record<string, unknown>) : null;
      return {
        ...session,
        claims: idClaims ? { ...session.claims, ...idClaims } : session.claims,
        idToken: tokens.id_token ?? session.idToken,
        accessToken: tokens.access_token,
        refreshToken: tokens.refresh_token ?? session.refreshToken,
        expiresAt: typeof tokens.expires_in === "number" ? Date.now() + tokens.expires_in * 1000 : undefined,
      };
    } catch {
      return null;
    }
  }

  /** Ends the session here, then (when the provider can) at the provider. */
  async logout(origin: RequestOrigin): Promise<Answer> {
    const cookies = parseCookies(origin.headers);
    const secure = this.#secure(origin);
    const value = readChunked(cookies, this.#s.cookieName);
    const session = value !== null ? await this.#store.load(value) : null;
    if (value !== null) await this.#store.destroy(value).catch(() => undefined);
    const set = writeChunked(cookies, this.#s.cookieName, null, { secure, maxAge: 0 });
    const after = this.#s.postLogoutRedirectUri !== null ? absolute(this.#s.postLogoutRedirectUri, origin) : null;
    if (this.#s.rpInitiatedLogout) {
      const config = await Promise.resolve()
        .then(() => this.#handle.config())
        .catch(() => null);
      if (config?.serverMetadata().end_session_endpoint) {
        const params: Record<string, string> = {};
        if (session?.idToken) params.id_token_hint = session.idToken;
        if (after !== null) params.post_logout_redirect_uri = after;
        return { status: 302, location: oidc.buildEndSessionUrl(config, params).href, cookies: set };
      }
    }
    if (after !== null) return { status: 302, location: after, cookies: set };
    return { status: 200, body: "Logged out\n", cookies: set };
  }
}
