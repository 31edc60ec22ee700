/**
 * basicAuth: HTTP Basic authentication (RFC 7617) against the plugin's own users (NixOS's
 * `basicAuth = { user = "password"; }`), an htpasswd file, and the basicAuth credentials of
 * consumers. bcrypt is slow by design: a successful check is remembered for cacheTtl in an LRU
 * keyed by a SHA-256 of user:password (never the password itself). Plain passwords are compared in
 * constant time (equal-length digests).
 */
import { LRUCache } from "lru-cache";
import type { z } from "zod";
import { parseTime } from "../../config/units.js";
import {
  type AuthRejectState,
  anonymousConsumer,
  applyConsumer,
  authenticatedBefore,
  type ConsumerHeaderNames,
  type ConsumerRegistry,
  compileConsumerHeaders,
  consumerRegistry,
  looksLikeUnknownHash,
  type PasswordCheck,
  passwordChecker,
  passwordFormat,
  rejectAuth,
  sha256Base64,
  stripConsumerHeaders,
} from "../../consumers/index.js";
import type { Consumer } from "../../lifecycle/context.js";
import { definePlugin } from "../../lifecycle/plugin.js";
import { parseHtpasswd } from "./htpasswd.js";
import { type BasicAuthConfig, basicAuthSchema } from "./schema.js";

declare module "../../config/schema.js" {
  interface PluginConfigMap {
    basicAuth: z.input<typeof basicAuthSchema>;
  }
}

interface UserEntry {
  readonly consumer: Consumer;
  readonly check: PasswordCheck;
  readonly credential: string;
}

interface BasicAuthState extends AuthRejectState {
  readonly users: Map<string, UserEntry>;
  readonly registry: ConsumerRegistry | null;
  readonly cache: LRUCache<string, UserEntry> | null;
  readonly hide: boolean;
  readonly challenge: string;
  readonly headers: ConsumerHeaderNames | false;
  readonly anonymous: Consumer | null;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

export const basicAuth = definePlugin({
  name: "basicAuth",
  priority: 2520,
  description: "HTTP Basic authentication: users in the config (NixOS basicAuth), an htpasswd file (bcrypt, $apr1$, {SHA}), or consumers; 401 otherwise.",
  schema: basicAuthSchema,
  async init(conf: BasicAuthConfig, env): Promise<BasicAuthState> {
    const registry = await consumerRegistry(env);
    const users = new Map<string, UserEntry>();
    const consumerFor = (user: string): Consumer => registry.get(user) ?? Object.freeze({ name: user, groups: Object.freeze([]) });
    for (const [user, stored] of Object.entries(conf.users ?? {})) {
      const format = passwordFormat(stored);
      if (format === "plain" && looksLikeUnknownHash(stored))
        throw new Error(`users.${user}: the password looks like a hash of an unsupported format (use bcrypt, $apr1$ or {SHA})`);
      users.set(user, { consumer: consumerFor(user), check: passwordChecker(stored, format), credential: `basicAuth/${user}` });
    }
    if (conf.htpasswdFile !== undefined) {
      let text: string;
      try {
        text = (await env.readFile(conf.htpasswdFile)).toString("utf8");
      } catch (err) {
        throw new Error(`cannot read htpasswdFile ${conf.htpasswdFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
      for (const [user, entry] of parseHtpasswd(text, conf.htpasswdFile, conf.allowPlainText)) {
        if (users.has(user)) throw new Error(`${conf.htpasswdFile}: user ${user} is also in users`);
        users.set(user, { consumer: consumerFor(user), check: entry.check, credential: `basicAuth/${user}` });
      }
    }
    const ttl = parseTime(conf.cacheTtl);
    return {
      plugin: "basicAuth",
      logger: env.logger,
      users,
      registry: conf.consumers ? registry : null,
      cache: ttl > 0 ? new LRUCache<string, UserEntry>({ max: 10_000, ttl }) : null,
      hide: conf.hideCredentials,
      challenge: `Basic realm="${conf.realm}", charset="UTF-8"`,
      headers: compileConsumerHeaders(conf.consumerHeaders),
      anonymous: anonymousConsumer(conf.anonymous, (name) => registry.get(name)),
    };
  },
  async access(ctx, st) {
    // Forged identity headers go first; an earlier auth plugin that authenticated removed them already.
    if (ctx.consumer === null) stripConsumerHeaders(ctx.request.headers, st.headers);
    if (st.anonymous !== null && authenticatedBefore(ctx)) return undefined;
    const headers = ctx.request.headers;
    const authorization = headers.authorization;
    if (authorization === undefined || authorization === "") return rejectAuth(ctx, st, "PTC_ERR_AUTH_MISSING", "no Authorization header", st.challenge);
    const space = authorization.indexOf(" ");
    const scheme = space < 0 ? authorization : authorization.slice(0, space);
    if (scheme.toLowerCase() !== "basic") return rejectAuth(ctx, st, "PTC_ERR_AUTH_MISSING", "Authorization is not Basic", st.challenge);
    const encoded = space < 0 ? "" : authorization.slice(space + 1).trim();
    if (!BASE64.test(encoded)) return rejectAuth(ctx, st, "PTC_ERR_AUTH_INVALID", "malformed Basic credentials (not base64)", st.challenge);
    const decoded = Buffer.from(encoded, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon <= 0) return rejectAuth(ctx, st, "PTC_ERR_AUTH_INVALID", "malformed Basic credentials (no user:password)", st.challenge);
    const user = decoded.slice(0, colon);
    const password = decoded.slice(colon + 1);
    const cacheKey = st.cache === null ? "" : sha256Base64(decoded);
    let entry = st.cache?.get(cacheKey);
    if (entry === undefined) {
      const candidate = st.users.get(user) ?? consumerEntry(st.registry, user);
      if (candidate === undefined) return rejectAuth(ctx, st, "PTC_ERR_AUTH_INVALID", "unknown user", st.challenge, 401, { user });
      if (!(await candidate.check(password))) return rejectAuth(ctx, st, "PTC_ERR_AUTH_INVALID", "wrong password", st.challenge, 401, { user });
      entry = candidate;
      st.cache?.set(cacheKey, entry);
    }
    if (st.hide) headers.authorization = undefined;
    applyConsumer(ctx, entry.consumer, { headers: st.headers, credential: entry.credential });
    return undefined;
  },
});

function consumerEntry(registry: ConsumerRegistry | null, user: string): UserEntry | undefined {
  const credential = registry?.basicUser(user);
  if (credential === undefined) return undefined;
  return { consumer: credential.consumer, check: credential.check, credential: `${credential.consumer.name}/basicAuth` };
}
