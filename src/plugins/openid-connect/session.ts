/**
 * The browser session of openidConnect: a JWE (jose `EncryptJWT`, `dir` + `A256GCM`: authenticated
 * encryption, so a modified cookie fails to open and counts as no session) under a key derived
 * from `sessionSecret` with HKDF. Large values are cut into cookies `name.0`, `name.1`, … under
 * ~3.8 KB each. With `sessionStore: redis` the cookie holds only an encrypted random id and the
 * (also encrypted) session lives in Redis, expiring with it.
 */
import { hkdfSync, randomBytes } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import type { Redis } from "ioredis";
import { EncryptJWT, jwtDecrypt } from "jose";

/** What a logged-in browser has. */
export interface SessionData {
  /** The ID token's subject. */
  sub: string;
  /** The ID token's claims, merged over the userinfo claims. */
  claims: Record<string, unknown>;
  idToken?: string | undefined;
  accessToken?: string | undefined;
  refreshToken?: string | undefined;
  /** When the access token expires (ms since the epoch), if the provider said. */
  expiresAt?: number | undefined;
  /** When the session ends whatever happens (ms since the epoch). */
  endsAt: number;
}

/** What the login redirect remembers until the callback: state, nonce, PKCE verifier, where to go back. */
export interface AuthState {
  state: string;
  nonce: string;
  verifier: string;
  target: string;
}

/** A cookie's value may hold this much before it is chunked (browsers keep ≥ 4096 bytes per cookie, name and attributes included). */
export const CHUNK_SIZE = 3800;

/** Seals and opens values for one purpose ("session", "auth", "sid"): a value sealed for one purpose does not open as another. */
export class SessionCodec {
  readonly #key: Uint8Array;

  constructor(secret: string | Buffer) {
    this.#key = new Uint8Array(hkdfSync("sha256", secret, "portico-openid-connect", "session cookie A256GCM", 32));
  }

  async seal(payload: object, purpose: string, expiresAtMs: number): Promise<string> {
    return new EncryptJWT({ ...payload })
      .setProtectedHeader({ alg: "dir", enc: "A256GCM" })
      .setAudience(purpose)
      .setIssuedAt()
      .setExpirationTime(Math.floor(expiresAtMs / 1000))
      .encrypt(this.#key);
  }

  /** The payload, or null when the value is not one of ours, was modified, is for another purpose, or has expired. */
  async open<T>(value: string, purpose: string): Promise<T | null> {
    try {
      const { payload } = await jwtDecrypt(value, this.#key, { audience: purpose, keyManagementAlgorithms: ["dir"], contentEncryptionAlgorithms: ["A256GCM"] });
      const { aud: _aud, iat: _iat, exp: _exp, ...rest } = payload;
      return rest as T;
    } catch {
      return null;
    }
  }
}

/** Cookie name → value, from a request's Cookie header(s). The first of a repeated name wins. */
export function parseCookies(headers: IncomingHttpHeaders): Map<string, string> {
  const cookies = new Map<string, string>();
  const header = headers.cookie;
  if (!header) return cookies;
  for (const pair of header.split(";")) {
    const eq = pair.indexOf("=");
    if (eq <= 0) continue;
    const name = pair.slice(0, eq).trim();
    if (!cookies.has(name)) cookies.set(name, pair.slice(eq + 1).trim());
  }
  return cookies;
}

/** The value of cookie `name`, or of its chunks `name.0`, `name.1`, … joined; null when there is none. */
export function readChunked(cookies: Map<string, string>, name: string): string | null {
  const whole = cookies.get(name);
  if (whole !== undefined) return whole;
  let value = "";
  for (let i = 0; ; i++) {
    const chunk = cookies.get(`${name}.${i}`);
    if (chunk === undefined) return i === 0 ? null : value;
    value += chunk;
  }
}

export interface CookieAttributes {
  secure: boolean;
  /** Seconds; 0 deletes the cookie. */
  maxAge: number;
}

function serialize(name: string, value: string, attributes: CookieAttributes): string {
  return `${name}=${value}; Path=/; Max-Age=${Math.max(0, Math.floor(attributes.maxAge))}; HttpOnly; SameSite=Lax${attributes.secure ? "; Secure" : ""}`;
}

/**
 * Set-Cookie values that store `value` under `name` (one cookie, or chunks when it is large), and
 * delete whatever other chunks of `name` the request carried. `value` null deletes them all.
 */
export function writeChunked(cookies: Map<string, string>, name: string, value: string | null, attributes: CookieAttributes): string[] {
  const out: string[] = [];
  const written = new Set<string>();
  if (value !== null) {
    if (value.length <= CHUNK_SIZE) {
      out.push(serialize(name, value, attributes));
      written.add(name);
    } else {
      for (let i = 0, at = 0; at < value.length; i++, at += CHUNK_SIZE) {
        const chunkName = `${name}.${i}`;
        out.push(serialize(chunkName, value.slice(at, at + CHUNK_SIZE), attributes));
        written.add(chunkName);
      }
    }
  }
  const deletion = { ...attributes, maxAge: 0 };
  for (const existing of cookies.keys()) {
    if (written.has(existing)) continue;
    if (existing === name || (existing.startsWith(`${name}.`) && /^\d+$/.test(existing.slice(name.length + 1)))) out.push(serialize(existing, "", deletion));
  }
  return out;
}

/** Where sessions live: the cookie value it gives back is all the browser keeps. */
export interface SessionStore {
  /** The session of a cookie value, or null (no such session, tampered, expired). */
  load(cookie: string): Promise<SessionData | null>;
  /** Stores `data`; `previous` is the cookie value it replaces (so a Redis session keeps its id). Returns the new cookie value. */
  save(data: SessionData, previous: string | null): Promise<string>;
  destroy(cookie: string): Promise<void>;
}

/** The whole session in the cookie. */
export class CookieSessionStore implements SessionStore {
  readonly #codec: SessionCodec;
  constructor(codec: SessionCodec) {
    this.#codec = codec;
  }
  async load(cookie: string): Promise<SessionData | null> {
    return this.#codec.open<SessionData>(cookie, "session");
  }
  save(data: SessionData): Promise<string> {
    return this.#codec.seal(data, "session", data.endsAt);
  }
  async destroy(): Promise<void> {}
}

/** The session in Redis under a random id; the cookie holds only the sealed id. */
export class RedisSessionStore implements SessionStore {
  readonly #codec: SessionCodec;
  readonly #redis: Redis;

  constructor(codec: SessionCodec, redis: Redis) {
    this.#codec = codec;
    this.#redis = redis;
  }

  async #id(cookie: string): Promise<string | null> {
    const opened = await this.#codec.open<{ sid?: unknown }>(cookie, "sid");
    return typeof opened?.sid === "string" ? opened.sid : null;
  }

  async load(cookie: string): Promise<SessionData | null> {
    const sid = await this.#id(cookie);
    if (sid === null) return null;
    const stored = await this.#redis.get(`oidc:session:${sid}`);
    return stored === null ? null : this.#codec.open<SessionData>(stored, "session");
  }

  async save(data: SessionData, previous: string | null): Promise<string> {
    const sid = (previous !== null ? await this.#id(previous) : null) ?? randomBytes(32).toString("base64url");
    const ttl = Math.max(1, data.endsAt - Date.now());
    await this.#redis.set(`oidc:session:${sid}`, await this.#codec.seal(data, "session", data.endsAt), "PX", ttl);
    return this.#codec.seal({ sid }, "sid", data.endsAt);
  }

  async destroy(cookie: string): Promise<void> {
    const sid = await this.#id(cookie);
    if (sid !== null) await this.#redis.del(`oidc:session:${sid}`);
  }
}
