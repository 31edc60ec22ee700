/**
 * authorize: allows or refuses an authenticated request by consumer, group, the token's claims and
 * scopes, per method (Kong's acl, plus claim and scope checks). It runs after the auth plugins
 * (priority 2400): a request without a consumer or a token is refused. The refusal is 403 with a
 * JSON reason (which names the rule that failed, never a secret).
 */
import type { z } from "zod";
import type { BaseContext } from "../../lifecycle/context.js";
import { definePlugin } from "../../lifecycle/plugin.js";
import { authRejected } from "../../observability/channels.js";
import { type AuthorizeConfig, type AuthorizeRule, authorizeSchema } from "./schema.js";

declare module "../../config/schema.js" {
  interface PluginConfigMap {
    authorize: z.input<typeof authorizeSchema>;
  }
}

type Scalar = string | number | boolean;

interface CompiledRule {
  readonly methods: ReadonlySet<string> | null;
  readonly allowConsumers: ReadonlySet<string> | null;
  readonly denyConsumers: ReadonlySet<string> | null;
  readonly allowGroups: readonly string[] | null;
  readonly denyGroups: readonly string[] | null;
  readonly requireScopes: readonly string[] | null;
  readonly requireClaims: ReadonlyArray<{ name: string; path: readonly string[]; wanted: readonly Scalar[] | "*" }>;
}

interface AuthorizeState {
  readonly rules: readonly CompiledRule[];
  readonly scopeClaims: readonly string[];
  readonly status: number;
  readonly logger: { info: (obj: object, msg: string) => void };
}

function compile(rule: AuthorizeRule): CompiledRule {
  return {
    methods: rule.methods ? new Set(rule.methods.map((method) => method.toUpperCase())) : null,
    allowConsumers: rule.allowConsumers ? new Set(rule.allowConsumers) : null,
    denyConsumers: rule.denyConsumers ? new Set(rule.denyConsumers) : null,
    allowGroups: rule.allowGroups ?? null,
    denyGroups: rule.denyGroups ?? null,
    requireScopes: rule.requireScopes ?? null,
    requireClaims: Object.entries(rule.requireClaims ?? {}).map(([name, wanted]) => ({
      name,
      path: name.split("."),
      wanted: wanted === "*" ? "*" : Array.isArray(wanted) ? wanted : [wanted],
    })),
  };
}

function claimAt(claims: Readonly<Record<string, unknown>>, path: readonly string[]): unknown {
  let value: unknown = claims;
  for (const part of path) {
    if (value === null || typeof value !== "object" || !Object.hasOwn(value, part)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

function scopesOf(claims: Readonly<Record<string, unknown>> | null, names: readonly string[]): Set<string> {
  const scopes = new Set<string>();
  if (claims === null) return scopes;
  for (const name of names) {
    const value = claims[name];
    if (typeof value === "string") for (const scope of value.split(/\s+/)) if (scope !== "") scopes.add(scope);
    if (Array.isArray(value)) for (const scope of value) if (typeof scope === "string") scopes.add(scope);
  }
  return scopes;
}

/** Why `rule` refuses the request, or null when it lets it through. */
function check(rule: CompiledRule, ctx: BaseContext, scopeClaims: readonly string[]): string | null {
  const consumer = ctx.consumer;
  if (consumer && rule.denyConsumers?.has(consumer.name)) return "consumer not allowed";
  if (rule.allowConsumers && (consumer === null || !rule.allowConsumers.has(consumer.name))) return "consumer not allowed";
  if (rule.denyGroups && consumer?.groups.some((group) => rule.denyGroups?.includes(group))) return "consumer group not allowed";
  if (rule.allowGroups && (consumer === null || !consumer.groups.some((group) => rule.allowGroups?.includes(group)))) return "consumer group not allowed";
  if (rule.requireScopes) {
    const scopes = scopesOf(ctx.jwt, scopeClaims);
    const missing = rule.requireScopes.filter((scope) => !scopes.has(scope));
    if (missing.length > 0) return `missing scope: ${missing.join(" ")}`;
  }
  for (const claim of rule.requireClaims) {
    const value = ctx.jwt === null ? undefined : claimAt(ctx.jwt, claim.path);
    if (value === undefined || value === null) return `claim ${claim.name} missing`;
    if (claim.wanted === "*") continue;
    const values = Array.isArray(value) ? value : [value];
    const wanted = claim.wanted;
    if (!values.some((item) => wanted.includes(item as Scalar))) return `claim ${claim.name} does not match`;
  }
  return null;
}

export const authorize = definePlugin({
  name: "authorize",
  priority: 2400,
  description: "Allows or refuses authenticated requests by consumer, group, token claims and scopes, per method; 403 with a JSON reason.",
  schema: authorizeSchema,
  init(conf: AuthorizeConfig, env): AuthorizeState {
    const { rules = [], scopeClaims, status, ...top } = conf;
    return { rules: [compile(top), ...rules.map(compile)], scopeClaims, status, logger: env.logger };
  },
  access(ctx, st) {
    let reason: string | null = null;
    if (ctx.consumer === null && ctx.jwt === null) reason = "authentication required";
    else {
      const method = ctx.request.method;
      for (const rule of st.rules) {
        if (rule.methods !== null && !rule.methods.has(method)) continue;
        reason = check(rule, ctx, st.scopeClaims);
        if (reason !== null) break;
      }
    }
    if (reason === null) return undefined;
    st.logger.info(
      {
        code: "PTC_ERR_AUTH_FORBIDDEN",
        requestId: ctx.requestId,
        location: ctx.location.key,
        consumer: ctx.consumer?.name,
        method: ctx.request.method,
        reason,
      },
      "request not authorized",
    );
    if (authRejected.hasSubscribers) authRejected.publish({ plugin: "authorize", reason, location: ctx.location.key });
    return ctx.exit(st.status, { message: "Forbidden", reason, requestId: ctx.requestId });
  },
});
