/**
 * The config model, once, in zod: validation, the TypeScript types of `defineConfig()` and the
 * JSON Schema for editors all come from here. Names follow NixOS `services.nginx`.
 */
import { z } from "zod";
import type { AccessHook, BodyFilterHook, ContentHook, HeaderFilterHook, LogHook, RewriteHook } from "../pipeline/context.js";
import type { AnyPlugin } from "../pipeline/plugin.js";

const describe = <T extends z.ZodType>(schema: T, description: string): T => schema.meta({ description }) as T;

/** nginx time: `500ms`, `5s`, `1m`, `1h 30m`; a bare string number means seconds (nginx), a JSON number milliseconds. */
export const TIME_PATTERN = /^\s*(\d+(ms|s|m|h|d|w)?\s*)+$/;
export const TimeSchema = describe(
  z.union([z.number().nonnegative(), z.string().regex(TIME_PATTERN, 'expected an nginx time such as "500ms", "5s" or "1m"')]),
  'A duration: nginx time string ("500ms", "5s", "1m", "1h 30m"; no unit = seconds) or a number of milliseconds.',
);

/** nginx size: `1m`, `8k`, `1g`, bytes without a unit. */
export const SIZE_PATTERN = /^\s*\d+\s*[kKmMgG]?\s*$/;
export const SizeSchema = describe(
  z.union([z.number().int().nonnegative(), z.string().regex(SIZE_PATTERN, 'expected an nginx size such as "8k", "1m" or "1g"')]),
  'A size: nginx size string ("8k", "1m", "1g"; no unit = bytes) or a number of bytes.',
);

/** `"8080"`, `"127.0.0.1:8080"`, `"[::1]:8080"`, `"*:8080"`, `"localhost:8080"` (nginx listen). */
export const LISTEN_PATTERN = /^\s*(?:(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+|\*):)?(\d{1,5})\s*$/;
const ListenStringSchema = z
  .string()
  .regex(LISTEN_PATTERN, 'expected a port, "host:port" or "[::1]:port"')
  .superRefine((value, ctx) => {
    const port = Number(LISTEN_PATTERN.exec(value)?.[2] ?? 0);
    if (port > 65535) ctx.addIssue({ code: "custom", message: `port ${port} is out of range (0-65535)` });
  });
const ListenEntrySchema = z.union([
  z.number().int().min(0).max(65535),
  ListenStringSchema,
  z.strictObject({
    addr: describe(z.string().optional(), "Address to bind (default all interfaces)."),
    port: describe(z.number().int().min(0).max(65535), "Port to bind; 0 takes one from the OS."),
  }),
]);
export const ListenSchema = describe(
  z.union([ListenEntrySchema, z.array(ListenEntrySchema).min(1)]),
  'Where to listen: a port, "host:port", "[::1]:port", { addr, port } (the NixOS form), or a list of them.',
);

/** A hook: a function in a TS/JS config; in YAML/JSON a module path ("./x.js", "./x.js#name") or an inline snippet. */
const hookSchemas = new Set<z.ZodType>();
/** One schema per phase, so that a TS config types each hook's context for its phase. */
function hookSchema<F>() {
  const schema = z.union([
    z.string().min(1),
    z.custom<F>((value) => typeof value === "function", { message: "expected a function, a module path or an inline snippet" }),
  ]);
  hookSchemas.add(schema);
  return schema;
}

const HeaderMapSchema = z.record(z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, "not a valid header name"), z.string());

/** Options nginx lets you set at http, server and location level; the nearest wins. */
const inheritableShape = {
  defaultType: describe(z.string().optional(), "Content-Type of `return` text and string content (nginx default_type; default application/octet-stream)."),
  clientMaxBodySize: describe(SizeSchema.optional(), 'Largest request body accepted, else 413 (nginx client_max_body_size; default "1m"; 0 = no limit).'),
  proxyConnectTimeout: describe(TimeSchema.optional(), 'Time to connect to an upstream, else 504 (default "60s").'),
  proxyReadTimeout: describe(TimeSchema.optional(), 'Longest wait for the upstream\'s headers and between two body reads, else 504 (default "60s").'),
  proxySendTimeout: describe(TimeSchema.optional(), 'Longest wait between two writes of the request body to the upstream (default "60s").'),
  recommendedProxySettings: describe(
    z.boolean().optional(),
    "Send Host as the client gave it, X-Real-IP, X-Forwarded-For/-Proto/-Host/-Server upstream (NixOS recommendedProxySettings).",
  ),
};

const hookShape = {
  rewrite: describe(hookSchema<RewriteHook>().optional(), "Hook of the rewrite phase (rewrite_by_lua)."),
  access: describe(hookSchema<AccessHook>().optional(), "Hook of the access phase (access_by_lua); may return ctx.exit(status, body)."),
  content: describe(hookSchema<ContentHook>().optional(), "Produces the response (content_by_lua): return a string, a JSON-able object or a Response."),
  headerFilter: describe(hookSchema<HeaderFilterHook>().optional(), "Sees and changes the response status and headers (header_filter_by_lua)."),
  bodyFilter: describe(hookSchema<BodyFilterHook>().optional(), "Sees and changes each body chunk: ctx.chunk, ctx.eof (body_filter_by_lua)."),
  log: describe(hookSchema<LogHook>().optional(), "Runs after the response is sent (log_by_lua)."),
};

const locationShape = {
  ...inheritableShape,
  ...hookShape,
  return: describe(
    z.union([z.string().min(1), z.number().int()]).optional(),
    'nginx return: "200 \'text\'", "301 https://$host$request_uri", a URL (302) or a status code.',
  ),
  proxyPass: describe(z.string().min(1).optional(), "Upstream URL (http://host:port/uri) or http://UPSTREAM_NAME/uri (nginx proxy_pass)."),
  proxySetHeader: describe(HeaderMapSchema.optional(), 'Headers sent upstream, values may use nginx variables ($host, $remote_addr, …); "" removes one.'),
  addHeader: describe(HeaderMapSchema.optional(), 'Headers added to the response (nginx add_header: on 2xx/3xx unless the value ends in " always").'),
};

const upstreamServerOptions = z.strictObject({
  weight: describe(z.number().int().min(1).optional(), "Relative share of requests (default 1)."),
});

export const UpstreamSchema = z.strictObject({
  servers: describe(
    z.union([z.array(z.string().min(1)).min(1), z.record(z.string(), upstreamServerOptions)]),
    'Servers as "host:port": a list, or a map to { weight } (NixOS form).',
  ),
  keepalive: describe(z.number().int().min(1).optional(), "Most connections kept open to each server (default: no limit)."),
});

const serverShape = {
  default: describe(z.boolean().optional(), "Answers requests whose Host matches no other virtual host (nginx default_server)."),
  serverName: describe(z.string().optional(), "Primary server name; defaults to the attribute name (NixOS)."),
  serverAliases: describe(z.array(z.string()).optional(), "More names: exact, *.wildcard, wildcard.*, or ~regex."),
  ...inheritableShape,
};

const topShape = {
  $schema: z.string().optional(),
  listen: ListenSchema.optional(),
  upstreams: describe(
    z.record(z.string().regex(/^[A-Za-z0-9_.-]+$/, "upstream names use letters, digits, _ . -"), UpstreamSchema).optional(),
    "Named groups of servers for proxyPass: http://NAME/.",
  ),
  vars: describe(z.record(z.string(), z.unknown()).optional(), "Values for hooks (ctx.vars) and for $name in templates."),
  largeClientHeaderBuffers: describe(
    z
      .string()
      .regex(/^\s*\d+\s+\d+\s*[kKmM]?\s*$/, 'expected "NUMBER SIZE" such as "4 8k"')
      .optional(),
    'Request line and headers larger than NUMBER × SIZE get 431 (nginx; default "4 8k").',
  ),
  keepaliveTimeout: describe(TimeSchema.optional(), 'How long an idle client connection stays open (default "75s").'),
  clientHeaderTimeout: describe(TimeSchema.optional(), 'Time to receive the request headers, else the connection closes (default "60s").'),
  shutdownTimeout: describe(TimeSchema.optional(), 'On SIGTERM, longest wait for in-flight requests before closing them (default "10s").'),
  redis: describe(
    z
      .strictObject({
        url: describe(z.string().regex(/^(redis|rediss|valkey|valkeys):\/\//, 'expected "redis://[user:password@]host:port[/db]"'), "Redis or Valkey URL."),
        keyPrefix: describe(z.string().optional(), 'Prefix of every key Portico writes (default "portico:").'),
        timeout: describe(TimeSchema.optional(), 'Longest wait for Redis before a command counts as failed (default "1s").'),
      })
      .optional(),
    "Where state that several Portico instances must share lives (rate limits, cache, sessions). Without it, state is per process.",
  ),
  logLevel: describe(
    z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).optional(),
    "Least severe level logged (default info; env PORTICO_LOG_LEVEL overrides).",
  ),
  ...inheritableShape,
};

/** Plugin keys accepted at each level: the plugin's own schema, or `false` to switch an inherited one off. */
function pluginShape(plugins: readonly AnyPlugin[]): Record<string, z.ZodType> {
  const shape: Record<string, z.ZodType> = {};
  for (const plugin of plugins) {
    shape[plugin.name] = describe(z.union([z.literal(false), plugin.schema]).optional(), plugin.description ?? `The ${plugin.name} plugin.`);
  }
  return shape;
}

/** Builds the whole config schema for a set of plugins (none in the core). */
export function buildConfigSchema(plugins: readonly AnyPlugin[] = []) {
  const pluginKeys = pluginShape(plugins);
  const LocationSchema = z.strictObject({ ...locationShape, ...pluginKeys });
  const VirtualHostSchema = z.strictObject({
    ...serverShape,
    ...pluginKeys,
    locations: describe(z.record(z.string(), LocationSchema).optional(), 'Locations by nginx key: "/prefix", "= /exact", "^~ /prefix", "~ regex", "~* regex".'),
  });
  return z.strictObject({
    ...topShape,
    ...pluginKeys,
    virtualHosts: describe(z.record(z.string(), VirtualHostSchema), "Virtual hosts by name (nginx server blocks)."),
  });
}

/** Per-plugin config types; plugins add themselves here by declaration merging. */
// biome-ignore lint/suspicious/noEmptyInterface: filled by declaration merging
export interface PluginConfigMap {}
type PluginKeys = { [K in keyof PluginConfigMap]?: PluginConfigMap[K] | false };

type LocationInput = z.input<z.ZodObject<typeof locationShape>> & PluginKeys;
type VirtualHostInput = z.input<z.ZodObject<typeof serverShape>> & PluginKeys & { locations?: Record<string, LocationInput> };

/** What a config file or `defineConfig()` accepts. */
export type PorticoConfig = z.input<z.ZodObject<typeof topShape>> & PluginKeys & { virtualHosts: Record<string, VirtualHostInput> };
export type LocationConfig = LocationInput;
export type VirtualHostConfig = VirtualHostInput;
export type UpstreamConfig = z.input<typeof UpstreamSchema>;

/** The JSON Schema of the config, for editors (`# yaml-language-server: $schema=…`) and other tools. */
export function configJsonSchema(plugins: readonly AnyPlugin[] = []): Record<string, unknown> {
  const schema = buildConfigSchema(plugins);
  const json = z.toJSONSchema(schema, {
    io: "input",
    unrepresentable: "any",
    override(ctx) {
      // Functions exist only in TS/JS configs: in JSON/YAML a hook is a module path or a snippet.
      if (hookSchemas.has(ctx.zodSchema as unknown as z.ZodType)) {
        for (const key of Object.keys(ctx.jsonSchema)) delete ctx.jsonSchema[key];
        Object.assign(ctx.jsonSchema, {
          type: "string",
          description: 'Module path ("./hook.js" or "./hook.js#name") or an inline JavaScript snippet with `ctx` in scope.',
        });
      }
    },
  }) as Record<string, unknown>;
  return allowEnvReferences(json);
}

/**
 * Any string value may be `${env:NAME}` (replaced at load), so a value pattern also accepts a
 * string with a reference in it; key patterns (`propertyNames`) stay as they are.
 */
function allowEnvReferences(node: unknown, isKey = false): Record<string, unknown> {
  if (Array.isArray(node)) {
    for (const item of node) allowEnvReferences(item);
  } else if (node !== null && typeof node === "object") {
    const object = node as Record<string, unknown>;
    for (const [key, value] of Object.entries(object)) {
      if (key === "pattern" && typeof value === "string" && !isKey) object.pattern = `(?:${value})|\\$\\{env:[A-Za-z_]`;
      else if (key !== "pattern") allowEnvReferences(value, key === "propertyNames");
    }
  }
  return node as Record<string, unknown>;
}
