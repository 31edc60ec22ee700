/**
 * The config model, once, in zod: validation, the TypeScript types of `defineConfig()` and the
 * JSON Schema for editors all come from here. Names follow NixOS `services.nginx`.
 */
import { z } from "zod";
import { consumersSchema } from "../consumers/schema.js";
import type { AccessHook, BodyFilterHook, ContentHook, HeaderFilterHook, LogHook, PreaccessHook, RewriteHook } from "../lifecycle/context.js";
import type { AnyPlugin } from "../lifecycle/plugin.js";
import { cidrProblem } from "../router/cidr.js";

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

/** An IPv4 or IPv6 address or CIDR: "10.0.0.0/8", "2001:db8::/32", "127.0.0.1", "::1". */
export const CidrSchema = describe(
  z.string().superRefine((value, ctx) => {
    const problem = cidrProblem(value);
    if (problem !== null) ctx.addIssue({ code: "custom", message: problem });
  }),
  'An IPv4 or IPv6 address or CIDR such as "10.0.0.0/8", "2001:db8::/32" or "::1".',
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
    ssl: describe(z.boolean().optional(), "A TLS listener (NixOS listen.*.ssl): serves the virtual hosts with onlySSL, addSSL or forceSSL (default false)."),
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
export const inheritableShape = {
  defaultType: describe(z.string().optional(), "Content-Type of `return` text and string content (nginx default_type; default application/octet-stream)."),
  clientMaxBodySize: describe(SizeSchema.optional(), 'Largest request body accepted, else 413 (nginx client_max_body_size; default "1m"; 0 = no limit).'),
  proxyConnectTimeout: describe(TimeSchema.optional(), 'Time to connect to an upstream, else 504 (default "60s").'),
  proxyReadTimeout: describe(TimeSchema.optional(), 'Longest wait for the upstream\'s headers and between two body reads, else 504 (default "60s").'),
  proxySendTimeout: describe(TimeSchema.optional(), 'Longest wait between two writes of the request body to the upstream (default "60s").'),
  proxyNextUpstream: describe(
    z
      .union([z.string(), z.array(z.string())])
      .superRefine((value, ctx) => {
        const problem = nextUpstreamProblem(value);
        if (problem !== null) ctx.addIssue({ code: "custom", message: problem });
      })
      .optional(),
    'When to try the next server of the group (nginx proxy_next_upstream): "error", "timeout", "http_500", "http_502", "http_503", "http_504", "http_429", "non_idempotent" or "off", as a list or a space-separated string (default "error timeout").',
  ),
  proxyNextUpstreamTries: describe(
    z.number().int().min(0).optional(),
    "Most attempts per request, the first included (nginx proxy_next_upstream_tries; default 0 = one per server of the group).",
  ),
  proxyNextUpstreamTimeout: describe(
    TimeSchema.optional(),
    "Time after the first attempt during which the next server may still be tried (nginx proxy_next_upstream_timeout; default 0 = no limit).",
  ),
  recommendedProxySettings: describe(
    z.boolean().optional(),
    "Send Host as the client gave it, X-Real-IP, X-Forwarded-For/-Proto/-Host/-Server upstream (NixOS recommendedProxySettings).",
  ),
  proxySslVerify: describe(
    z.boolean().optional(),
    "Verify the certificate of an https:// upstream against the trusted CAs and its name (nginx proxy_ssl_verify; default true, unlike nginx).",
  ),
  proxySslTrustedCertificate: describe(
    z.string().min(1).optional(),
    "PEM file of the CAs trusted for https:// upstreams, relative to the config (nginx proxy_ssl_trusted_certificate; default Node's CA list).",
  ),
  proxySslServerName: describe(
    z.string().min(1).optional(),
    "Name sent as SNI to an https:// upstream and checked against its certificate (nginx proxy_ssl_name; default the proxyPass host).",
  ),
  proxySslCertificate: describe(z.string().min(1).optional(), "PEM client certificate for mutual TLS with https:// upstreams (nginx proxy_ssl_certificate)."),
  proxySslCertificateKey: describe(z.string().min(1).optional(), "PEM key of proxySslCertificate (nginx proxy_ssl_certificate_key); a secret, never logged."),
};

const hookShape = {
  rewrite: describe(hookSchema<RewriteHook>().optional(), "Hook of the rewrite phase (rewrite_by_lua)."),
  preaccess: describe(hookSchema<PreaccessHook>().optional(), "Hook of the preaccess phase, where limits run before authentication (nginx limit_req)."),
  access: describe(hookSchema<AccessHook>().optional(), "Hook of the access phase (access_by_lua); may return ctx.exit(status, body)."),
  content: describe(hookSchema<ContentHook>().optional(), "Produces the response (content_by_lua): return a string, a JSON-able object or a Response."),
  headerFilter: describe(hookSchema<HeaderFilterHook>().optional(), "Sees and changes the response status and headers (header_filter_by_lua)."),
  bodyFilter: describe(hookSchema<BodyFilterHook>().optional(), "Sees and changes each body chunk: ctx.chunk, ctx.eof (body_filter_by_lua)."),
  log: describe(hookSchema<LogHook>().optional(), "Runs after the response is sent (log_by_lua)."),
};

export const locationShape = {
  ...inheritableShape,
  ...hookShape,
  return: describe(
    z.union([z.string().min(1), z.number().int()]).optional(),
    'nginx return: "200 \'text\'", "301 https://$host$request_uri", a URL (302) or a status code.',
  ),
  proxyPass: describe(z.string().min(1).optional(), "Upstream URL (http://host:port/uri) or http://UPSTREAM_NAME/uri (nginx proxy_pass)."),
  proxySetHeader: describe(HeaderMapSchema.optional(), 'Headers sent upstream, values may use nginx variables ($host, $remote_addr, …); "" removes one.'),
  addHeader: describe(HeaderMapSchema.optional(), 'Headers added to the response (nginx add_header: on 2xx/3xx unless the value ends in " always").'),
  proxyWebsockets: describe(
    z.boolean().optional(),
    "Pass WebSocket upgrades through to the proxyPass upstream (NixOS proxyWebsockets; default false: Upgrade is dropped as hop-by-hop).",
  ),
};

/** nginx proxy_next_upstream values. */
export const NEXT_UPSTREAM_VALUES = ["error", "timeout", "http_500", "http_502", "http_503", "http_504", "http_429", "non_idempotent", "off"] as const;

function nextUpstreamProblem(value: string | string[]): string | null {
  const tokens = (Array.isArray(value) ? value : [value]).flatMap((item) => item.trim().split(/\s+/)).filter((token) => token !== "");
  if (tokens.length === 0) return 'expected at least one value, such as "error timeout"';
  const unknown = tokens.find((token) => !(NEXT_UPSTREAM_VALUES as readonly string[]).includes(token));
  if (unknown !== undefined) return `unknown value "${unknown}": expected ${NEXT_UPSTREAM_VALUES.join(", ")}`;
  if (tokens.includes("off") && tokens.length > 1) return '"off" cannot be combined with other values';
  return null;
}

const passiveHealthShape = {
  maxFails: describe(
    z.number().int().min(0).optional(),
    "Failures within failTimeout that take a server out for failTimeout (nginx max_fails; default 1; 0 = never). Ignored for a group of one server, as nginx.",
  ),
  failTimeout: describe(TimeSchema.optional(), 'Window that counts failures, and how long a failed server stays out (nginx fail_timeout; default "10s").'),
};

const upstreamServerOptions = z.strictObject({
  weight: describe(z.number().int().min(1).optional(), "Relative share of requests (default 1)."),
  ...passiveHealthShape,
  backup: describe(z.boolean().optional(), "Used only when every other server is unavailable (nginx backup)."),
  down: describe(z.boolean().optional(), "Never used (nginx down)."),
});

const HealthCheckSchema = z.strictObject({
  path: describe(z.string().startsWith("/").optional(), 'Path requested on each server (default "/").'),
  interval: describe(TimeSchema.optional(), 'Time between two checks of a server (default "5s").'),
  timeout: describe(TimeSchema.optional(), 'Longest wait for the answer of a check, else it failed (default "1s").'),
  healthyThreshold: describe(z.number().int().min(1).optional(), "Consecutive passed checks that bring a server back (default 2)."),
  unhealthyThreshold: describe(z.number().int().min(1).optional(), "Consecutive failed checks that take a server out (default 3)."),
  expectStatus: describe(z.array(z.number().int().min(100).max(599)).min(1).optional(), "Statuses that pass (default any 2xx or 3xx)."),
  scheme: describe(z.enum(["http", "https"]).optional(), 'Protocol of the check (default "http"; https does not verify the certificate).'),
});

const CircuitBreakerSchema = z.strictObject({
  failures: describe(z.number().int().min(0).optional(), "Consecutive failures that open the breaker (default 5; 0 = this rule off)."),
  errorRatio: describe(z.number().min(0).max(1).optional(), "Share of failures over `window` that opens the breaker (default 0 = this rule off)."),
  minRequests: describe(z.number().int().min(1).optional(), "Fewest requests in the window before errorRatio applies (default 20)."),
  window: describe(TimeSchema.optional(), 'Length of the errorRatio window (default "10s").'),
  openTimeout: describe(TimeSchema.optional(), 'Cool-down of an open breaker before one probe request goes through (default "30s").'),
});

export const UpstreamSchema = z.strictObject({
  servers: describe(
    z.union([z.array(z.string().min(1)).min(1), z.record(z.string(), upstreamServerOptions)]),
    'Servers as "host:port": a list, or a map to { weight, maxFails, failTimeout, backup, down } (NixOS form).',
  ),
  keepalive: describe(z.number().int().min(1).optional(), "Most connections kept open to each server (default: no limit)."),
  loadBalancing: describe(
    z.enum(["roundRobin", "leastConn", "random2", "hash"]).optional(),
    "How a server is chosen: roundRobin (weighted, nginx default), leastConn, random2 (power of two choices), hash (consistent, on hashKey).",
  ),
  hashKey: describe(
    z.string().min(1).optional(),
    'Key of loadBalancing hash: a template of nginx variables ("$remote_addr", "$request_uri", "$http_x_user") or "consumer" (the authenticated consumer).',
  ),
  ...passiveHealthShape,
  healthCheck: describe(HealthCheckSchema.optional(), "Active health check: GET path on every server each interval."),
  circuitBreaker: describe(CircuitBreakerSchema.optional(), "Circuit breaker per server: open after failures, one probe after openTimeout."),
});

export const serverShape = {
  default: describe(z.boolean().optional(), "Answers requests whose Host matches no other virtual host (nginx default_server)."),
  serverName: describe(z.string().optional(), "Primary server name; defaults to the attribute name (NixOS)."),
  serverAliases: describe(z.array(z.string()).optional(), "More names: exact, *.wildcard, wildcard.*, or ~regex."),
  onlySSL: describe(z.boolean().optional(), "Served on the TLS listeners only (NixOS onlySSL; default false)."),
  addSSL: describe(z.boolean().optional(), "Served on the TLS listeners as well as the plain ones (NixOS addSSL; default false)."),
  forceSSL: describe(
    z.boolean().optional(),
    "Served on the TLS listeners; the plain ones answer 301 to https://$host$request_uri (NixOS forceSSL; default false).",
  ),
  sslCertificate: describe(
    z.string().min(1).optional(),
    "PEM certificate (chain) file, relative to the config; read at load and reload (NixOS sslCertificate).",
  ),
  sslCertificateKey: describe(z.string().min(1).optional(), "PEM private key file of sslCertificate; a secret, never logged (NixOS sslCertificateKey)."),
  http2: describe(
    z.boolean().optional(),
    "Offer HTTP/2 (ALPN h2) on the TLS listeners (NixOS http2; default true). As in nginx, a listener speaks h2 when any of its virtual hosts wants it.",
  ),
  ...inheritableShape,
};

/** Loopback hosts: an admin listener there needs no token. */
export function isLoopbackListen(listen: string | number): boolean {
  if (typeof listen === "number") return true;
  const host = LISTEN_PATTERN.exec(listen)?.[1];
  if (host === undefined || host === "*") return false;
  const bare = host.replace(/^\[(.*)\]$/, "$1");
  return bare === "localhost" || bare === "::1" || /^127\.\d+\.\d+\.\d+$/.test(bare);
}

const observabilityShape = {
  accessLog: describe(
    z
      .union([
        z.boolean(),
        z.strictObject({
          format: describe(z.enum(["json", "combined"]).optional(), 'json (one JSON record per line, default) or nginx\'s "combined" line.'),
          path: describe(
            z.union([z.string().min(1), z.literal(false)]).optional(),
            'A file (relative to the config; reopened on SIGUSR1), "stdout" (default), or false for none.',
          ),
        }),
      ])
      .optional(),
    "Access log, one line per request (default off; true = JSON to stdout).",
  ),
  errorLog: describe(
    z
      .strictObject({
        path: describe(z.string().min(1).optional(), 'A file for the error log (relative to the config; reopened on SIGUSR1), or "stdout" (default).'),
        level: describe(
          z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).optional(),
          "Least severe level written (default logLevel, else info).",
        ),
      })
      .optional(),
    "Where the gateway's own log (errors, warnings, notices) goes.",
  ),
  admin: describe(
    z
      .strictObject({
        listen: describe(
          z.union([z.number().int().min(0).max(65535), ListenStringSchema]).optional(),
          'Where the admin listener binds (default "127.0.0.1:9180"; a bare port binds 127.0.0.1).',
        ),
        token: describe(z.string().min(16, "use a token of at least 16 characters").optional(), "Bearer token the admin API requires."),
        tokenFile: describe(z.string().min(1).optional(), "File holding the token (relative to the config)."),
        allowWrites: describe(z.boolean().optional(), "Allow POST /api/reload, POST /api/cache/purge and PUT /api/config (default false: read-only)."),
        metrics: describe(z.boolean().optional(), "Collect Prometheus metrics and live stats, served at /metrics (default true)."),
        processMetrics: describe(z.boolean().optional(), "Include Node.js process metrics in /metrics (default true)."),
        dashboard: describe(z.boolean().optional(), "Serve the dashboard at / (default true)."),
      })
      .superRefine((admin, ctx) => {
        const listen = admin.listen ?? "127.0.0.1:9180";
        if (!isLoopbackListen(listen) && admin.token === undefined && admin.tokenFile === undefined) {
          ctx.addIssue({ code: "custom", path: ["listen"], message: "the admin listener is off loopback: set admin.token or admin.tokenFile" });
        }
        if (admin.token !== undefined && admin.tokenFile !== undefined) {
          ctx.addIssue({ code: "custom", path: ["tokenFile"], message: "give token or tokenFile, not both" });
        }
      })
      .optional(),
    "The admin listener: /healthz, /readyz, /metrics, the admin API and the dashboard (off unless set).",
  ),
  tracing: describe(
    z
      .strictObject({
        otlpEndpoint: describe(z.url().optional(), "OTLP/HTTP traces URL, e.g. http://127.0.0.1:4318/v1/traces; without it traceparent is still propagated."),
        serviceName: describe(z.string().min(1).optional(), 'service.name of the spans (default "portico").'),
        sampleRatio: describe(z.number().min(0).max(1).optional(), "Share of new traces sampled, 0..1 (default 1); a client's sampled flag is followed."),
        headers: describe(z.record(z.string(), z.string()).optional(), "Headers sent with each export (e.g. an API key of the collector)."),
      })
      .optional(),
    "OpenTelemetry tracing: W3C traceparent taken or started and passed upstream; spans exported over OTLP/HTTP.",
  ),
};

export const topShape = {
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
  workers: describe(
    z.union([z.literal("auto"), z.number().int().min(1)]).optional(),
    '`portico start` runs this many worker processes (node:cluster) sharing the listeners; "auto" = one per core (default 1: a single process).',
  ),
  watch: describe(z.boolean().optional(), "Reload when the config file or a file it references (hooks, certificates, htpasswd, …) changes (default false)."),
  sslProtocols: describe(
    z
      .array(z.enum(["TLSv1.2", "TLSv1.3"]))
      .min(1)
      .optional(),
    'TLS versions the TLS listeners accept (nginx ssl_protocols; default ["TLSv1.2", "TLSv1.3"]).',
  ),
  sslCiphers: describe(
    z.string().min(1).optional(),
    "OpenSSL cipher list for TLSv1.2 (nginx ssl_ciphers; default Node's list, which has only forward-secret AEAD and CBC suites).",
  ),
  trustedProxies: describe(
    z.array(CidrSchema).optional(),
    "Peers (CIDRs or addresses) whose realIpHeader is believed for the client address (nginx set_real_ip_from). Default: none, the socket's peer is the client.",
  ),
  realIpHeader: describe(
    z
      .string()
      .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, "not a valid header name")
      .optional(),
    "Header that carries the client address from a trusted proxy (nginx real_ip_header; default X-Forwarded-For).",
  ),
  realIpRecursive: describe(
    z.boolean().optional(),
    "Walk the header from the right past every trusted address, not just the peer (nginx real_ip_recursive; default true).",
  ),
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
  consumers: consumersSchema.optional(),
  ...observabilityShape,
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
