/**
 * What a limit counts by, compiled once at load into `(ctx) => string`: the client address
 * (`"ip"`, trustedProxies-aware), the consumer (`"consumer"`, falling back to the address), a
 * header (`{ header }`, falling back to the address when absent), an nginx-style template
 * (`"$http_x_api_key:$uri"`), or a hook (`{ hook: "./key.js#byTenant" }`, a function in a TS
 * config, or an inline snippet) that returns the key.
 *
 * A limit counts in the preaccess phase, before authentication (where nginx runs limit_req and
 * limit_conn), unless its key names the consumer: see keyNeedsConsumer.
 */
import { z } from "zod";
import type { BaseContext } from "../lifecycle/context.js";
import { isModuleReference, loadHook } from "../lifecycle/hooks.js";
import type { Phase, PluginEnv } from "../lifecycle/plugin.js";

export type KeyFunction = (ctx: BaseContext) => string;

const TEMPLATE_VARIABLE = /\$(\{[a-z0-9_]+\}|[a-z0-9_]+)/gi;

export const KeySchema = z
  .union([
    z.literal("ip").describe("The client address (after trustedProxies)."),
    z.literal("consumer").describe("The authenticated consumer's name; the client address when there is none."),
    z
      .string()
      .regex(/\$[A-Za-z_{]/, 'expected "ip", "consumer" or a template with $variables such as "$http_x_api_key"')
      .describe("An nginx-style template: $remote_addr, $binary_remote_addr, $consumer_name, $http_NAME, $arg_NAME, $uri, $host, $server_name."),
    z.strictObject({ header: z.string().min(1).describe("Request header whose value is the key; the client address when it is absent.") }),
    z.strictObject({
      hook: z
        .union([z.string().min(1), z.custom<KeyFunction>((value) => typeof value === "function", { message: "expected a function or a module path" })])
        .describe('A function `(ctx) => string`: a module path ("./key.js", "./key.js#name"), an inline snippet, or a function in a TS config.'),
    }),
  ])
  .describe("What the limit counts by.");

export type KeySpec = z.output<typeof KeySchema>;

function headerValue(ctx: BaseContext, name: string): string | undefined {
  const value = ctx.request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** One `$variable` of a template, as a function of the context. */
function templateVariable(name: string): KeyFunction {
  if (name === "remote_addr" || name === "binary_remote_addr") return (ctx) => ctx.request.ip;
  if (name === "consumer_name") return (ctx) => ctx.consumer?.name ?? "";
  if (name === "uri") return (ctx) => ctx.request.path;
  if (name === "host") return (ctx) => headerValue(ctx, "host") ?? "";
  if (name === "server_name") return (ctx) => ctx.virtualHost.name;
  if (name.startsWith("http_")) {
    const header = name.slice(5).replaceAll("_", "-");
    return (ctx) => headerValue(ctx, header) ?? "";
  }
  if (name.startsWith("arg_")) {
    const arg = name.slice(4);
    return (ctx) => ctx.request.query.get(arg) ?? "";
  }
  throw new Error(`unknown variable $${name} in the key template`);
}

function compileTemplate(template: string): KeyFunction {
  const parts: Array<string | KeyFunction> = [];
  let last = 0;
  for (const match of template.matchAll(TEMPLATE_VARIABLE)) {
    if (match.index > last) parts.push(template.slice(last, match.index));
    parts.push(templateVariable((match[1] as string).replace(/^\{|\}$/g, "").toLowerCase()));
    last = match.index + match[0].length;
  }
  if (last < template.length) parts.push(template.slice(last));
  if (parts.length === 1 && typeof parts[0] === "function") return parts[0];
  return (ctx) => {
    let key = "";
    for (const part of parts) key += typeof part === "string" ? part : part(ctx);
    return key;
  };
}

/**
 * Whether the key names the consumer (`consumer`, `$consumer_name`): known only once the auth
 * plugins have run, so such a limit counts in the access phase, after them, instead of preaccess.
 */
export function keyNeedsConsumer(spec: KeySpec): boolean {
  return spec === "consumer" || (typeof spec === "string" && /\$(\{consumer_name\}|consumer_name(?![a-z0-9_]))/i.test(spec));
}

/** Compiles a key spec at init. */
export async function compileKey(spec: KeySpec, env: PluginEnv): Promise<KeyFunction> {
  if (spec === "ip") return (ctx) => ctx.request.ip;
  if (spec === "consumer") return (ctx) => ctx.consumer?.name ?? ctx.request.ip;
  if (typeof spec === "string") return compileTemplate(spec);
  if ("header" in spec) {
    const name = spec.header.toLowerCase();
    return (ctx) => headerValue(ctx, name) || ctx.request.ip;
  }
  const hook = spec.hook;
  if (typeof hook === "string" && isModuleReference(hook)) await env.readFile(hook.trim().split("#")[0] as string); // a reload trigger
  const { fn } = await loadHook(hook as Parameters<typeof loadHook>[0], env.configDir, new Set());
  return (ctx) => {
    const key = fn(ctx as Parameters<typeof fn>[0]);
    return typeof key === "string" && key !== "" ? key : typeof key === "number" ? String(key) : ctx.request.ip;
  };
}

/**
 * A limit plugin's usesPhase: it has a preaccess and an access hook and keeps one, access when its
 * key is the consumer (known only after authentication, keyNeedsConsumer), preaccess otherwise.
 */
export function limitUsesPhase(phase: Phase, state: { readonly afterAuth: boolean }): boolean {
  return phase === "preaccess" ? !state.afterAuth : phase === "access" ? state.afterAuth : true;
}
