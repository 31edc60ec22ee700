/**
 * The admin API (JSON) and the dashboard's files, served by the admin listener. Read-only unless
 * `admin.allowWrites`; then reload, cache purge and PUT /api/config (written to the config file,
 * validated first, then reloaded: the file stays the source of truth). A token, when set, is
 * required as `Authorization: Bearer …` on everything but /healthz, /readyz and the page itself.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile, rename, rm, writeFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Logger } from "pino";
import { stringify as toYaml } from "yaml";
import type { AdminSettings } from "../config/admin.js";
import { ConfigError, type ConfigIssue, ERRORS, type ErrorCode, formatIssue, PorticoError } from "../errors.js";
import { configReload } from "../observability/channels.js";
import type { Observability } from "../observability/index.js";
import type { StatsSnapshot } from "../observability/stats.js";
import type { RouteTable } from "./route-table.js";

export interface AdminGateway {
  readonly logger: Logger;
  readonly table: RouteTable;
  /** The running config, validated. */
  readonly config: Record<string, unknown>;
  /** The config file, when the gateway was started from one. */
  readonly configFile: string | null;
  readonly observability: Observability;
  /** Listeners open and config loaded, not shutting down. */
  readonly ready: boolean;
  reload(): Promise<{ warnings: ConfigIssue[] }>;
  /** Validates a config file like `portico check`; rejects with a ConfigError. */
  check(file: string): Promise<{ warnings: ConfigIssue[] }>;
  purgeCache?: (options: Record<string, unknown>) => Promise<unknown> | unknown;
  upstreamStatus?: () => unknown;
  /** With `workers`: the primary answers metrics, stats and recent errors from every worker (src/server/workers.ts). */
  workers?: {
    metrics(): Promise<{ contentType: string; text: string } | null>;
    stats(): Promise<StatsSnapshot>;
    errors(): Promise<unknown[]>;
  };
}

const SECRET_KEY = /secret|password|passwd|token|keys?$|credentials?$|cookie/i;
const MASK = "********";

/** The config with secret values masked; `*File` values (paths) are kept. */
export function maskConfig(value: unknown, key = ""): unknown {
  const secret = key !== "" && SECRET_KEY.test(key) && !/File$/.test(key);
  if (typeof value === "function") return `[function ${value.name || "anonymous"}]`;
  if (Array.isArray(value)) return value.map((item) => maskConfig(item, secret ? key : ""));
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = maskConfig(v, k);
    return out;
  }
  if (secret && (typeof value === "string" || typeof value === "number")) return MASK;
  // Passwords in URLs (redis://user:pass@host).
  if (typeof value === "string" && /^[a-z][a-z0-9+.-]*:\/\/[^/@\s]*:[^/@\s]*@/i.test(value))
    return value.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/:@\s]*:)[^/@\s]*@/i, `$1${MASK}@`);
  return value;
}

function digest(value: string): Buffer {
  return createHash("sha256").update(value).digest();
}

/** Constant-time bearer check (equal-length digests). */
function authorized(req: IncomingMessage, token: string | null): boolean {
  if (token === null) return true;
  const header = req.headers.authorization ?? "";
  const match = /^Bearer\s+(.+)$/i.exec(header);
  const given = match ? (match[1] as string).trim() : "";
  return timingSafeEqual(digest(given), digest(token)) && given.length > 0;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = `${JSON.stringify(body, null, 2)}\n`;
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", ...headers });
  res.end(text);
}

function refuse(res: ServerResponse, code: ErrorCode, detail?: string, headers?: Record<string, string>): void {
  const { status, message } = ERRORS[code];
  send(res, status, { code, message: detail ?? message }, headers);
}

function readBody(req: IncomingMessage, limit = 1 << 20): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new Error("body too large"));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.once("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.once("error", reject);
  });
}

/** Where the dashboard's files are: beside this module (src/, or dist/ when copied), else in src/ of the package. */
function dashboardDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const beside = path.join(here, "dashboard");
  if (existsSync(path.join(beside, "index.html"))) return beside;
  return path.resolve(here, "../../src/server/dashboard");
}

const STATIC: Record<string, string> = {
  "/": "index.html",
  "/index.html": "index.html",
  "/app.js": "app.js",
  "/style.css": "style.css",
};
const TYPES: Record<string, string> = { html: "text/html; charset=utf-8", js: "text/javascript; charset=utf-8", css: "text/css; charset=utf-8" };
const staticCache = new Map<string, Buffer>();

async function serveStatic(res: ServerResponse, file: string): Promise<void> {
  let body = staticCache.get(file);
  if (body === undefined) {
    body = await readFile(path.join(dashboardDir(), file));
    staticCache.set(file, body);
  }
  res.writeHead(200, {
    "content-type": TYPES[file.split(".").pop() as string] as string,
    "content-length": String(body.length),
    "cache-control": "no-cache",
    "content-security-policy": "default-src 'self'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
  });
  res.end(body);
}

/** Upstream groups with their servers' health: the gateway's own report when it has one, else config + health reports. */
async function upstreams(gw: AdminGateway): Promise<unknown> {
  if (gw.upstreamStatus) return { upstreams: await gw.upstreamStatus() };
  const config = gw.config as { upstreams?: Record<string, { servers: string[] | Record<string, { weight?: number }> }> };
  const health = gw.observability.upstreams;
  const groups: Array<{ name: string; servers: Array<{ address: string; weight: number; healthy: boolean; reason: string | null; since: string | null }> }> =
    [];
  for (const [name, upstream] of Object.entries(config.upstreams ?? {})) {
    const entries = Array.isArray(upstream.servers)
      ? upstream.servers.map((address) => [address, 1] as const)
      : Object.entries(upstream.servers).map(([address, o]) => [address, o.weight ?? 1] as const);
    groups.push({
      name,
      servers: entries.map(([address, weight]) => {
        const state = health.get(`${name} ${address}`);
        return { address, weight, healthy: state?.healthy ?? true, reason: state?.reason ?? null, since: state?.since ?? null };
      }),
    });
  }
  // Hosts named directly in proxyPass, without an upstream group.
  const direct = new Set<string>();
  for (const location of gw.table.locations) {
    if (!location.proxyPass) continue;
    const host = /^https?:\/\/([^/]+)/i.exec(location.proxyPass)?.[1];
    if (host && !(config.upstreams && host in config.upstreams)) direct.add(host);
  }
  for (const host of direct) {
    const state = health.get(`${host} ${host}`);
    groups.push({
      name: host,
      servers: [{ address: host, weight: 1, healthy: state?.healthy ?? true, reason: state?.reason ?? null, since: state?.since ?? null }],
    });
  }
  return { upstreams: groups };
}

async function reload(gw: AdminGateway, res: ServerResponse): Promise<void> {
  try {
    const { warnings } = await gw.reload();
    if (configReload.hasSubscribers) configReload.publish({ ok: true, errors: 0, source: "admin" });
    gw.logger.info({ source: "admin" }, "configuration reloaded");
    send(res, 200, { reloaded: true, warnings: warnings.map(formatIssue) });
  } catch (error) {
    const issues = error instanceof ConfigError ? error.issues.map(formatIssue) : [(error as Error).message];
    if (configReload.hasSubscribers) configReload.publish({ ok: false, errors: issues.length, source: "admin" });
    gw.logger.error({ source: "admin", issues }, "reload refused, the running configuration stays");
    send(res, 422, { reloaded: false, code: "PTC_ERR_CONFIG_INVALID", issues });
  }
}

/** PUT /api/config: validate the new config as a file beside the old one, then put it in place and reload. */
async function putConfig(gw: AdminGateway, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const file = gw.configFile;
  const ext = file ? path.extname(file).toLowerCase() : "";
  if (!file || ![".yaml", ".yml", ".json"].includes(ext)) {
    refuse(res, "PTC_ERR_ADMIN_UNSUPPORTED", "only a gateway started from a YAML or JSON config file can have its config replaced");
    return;
  }
  let next: unknown;
  try {
    next = JSON.parse(await readBody(req));
  } catch {
    refuse(res, "PTC_ERR_ADMIN_BAD_REQUEST", "the body must be the whole config as a JSON object");
    return;
  }
  if (next === null || typeof next !== "object" || Array.isArray(next)) {
    refuse(res, "PTC_ERR_ADMIN_BAD_REQUEST", "the body must be the whole config as a JSON object");
    return;
  }
  const text = ext === ".json" ? `${JSON.stringify(next, null, 2)}\n` : toYaml(next);
  const temp = path.join(path.dirname(file), `.${path.basename(file, ext)}.admin-${process.pid}${ext}`);
  await writeFile(temp, text, { mode: 0o600 });
  try {
    await gw.check(temp);
  } catch (error) {
    await rm(temp, { force: true });
    const issues = error instanceof ConfigError ? error.issues.map((issue) => formatIssue({ ...issue, file })) : [(error as Error).message];
    send(res, 422, { written: false, code: "PTC_ERR_CONFIG_INVALID", issues });
    return;
  }
  await rename(temp, file);
  gw.logger.warn({ source: "admin", config: file }, "config file replaced through the admin API");
  await reload(gw, res);
}

/** One admin request. */
export async function handleAdminRequest(gw: AdminGateway, settings: AdminSettings, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? "/", "http://admin");
  const route = url.pathname;
  const method = req.method ?? "GET";

  if (route === "/healthz") return send(res, 200, { status: "ok" });
  if (route === "/readyz") return gw.ready ? send(res, 200, { status: "ready" }) : send(res, 503, { status: "not ready" });
  if (method === "GET" && settings.dashboard && STATIC[route] !== undefined) return serveStatic(res, STATIC[route]);

  if (!authorized(req, settings.token)) {
    gw.logger.info({ code: "PTC_ERR_ADMIN_UNAUTHORIZED", ip: req.socket.remoteAddress, url: route }, "admin request without a valid token");
    return refuse(res, "PTC_ERR_ADMIN_UNAUTHORIZED", undefined, { "www-authenticate": 'Bearer realm="portico-admin"' });
  }

  if (method === "GET" || method === "HEAD") {
    switch (route) {
      case "/metrics": {
        if (gw.workers) {
          const summed = await gw.workers.metrics();
          if (!summed) return refuse(res, "PTC_ERR_ADMIN_NOT_FOUND", "metrics are off (admin.metrics: false)");
          res.writeHead(200, { "content-type": summed.contentType, "cache-control": "no-store" });
          res.end(summed.text);
          return;
        }
        const metrics = gw.observability.current?.metrics ?? null;
        if (!metrics) return refuse(res, "PTC_ERR_ADMIN_NOT_FOUND", "metrics are off (admin.metrics: false)");
        const text = await metrics.text();
        res.writeHead(200, { "content-type": metrics.registry.contentType, "cache-control": "no-store" });
        res.end(text);
        return;
      }
      case "/api/config":
        return send(res, 200, maskConfig(gw.config));
      case "/api/routes":
        return send(res, 200, { locations: gw.table.locations });
      case "/api/routes/explain": {
        const target = url.searchParams.get("url");
        if (!target) return refuse(res, "PTC_ERR_ADMIN_BAD_REQUEST", "give ?url=/path (and optionally method= and host=)");
        const host = url.searchParams.get("host") || undefined;
        return send(
          res,
          200,
          gw.table.explain(
            (url.searchParams.get("method") || "GET").toUpperCase(),
            target.startsWith("/") || /^https?:\/\//i.test(target) ? target : `/${target}`,
            host,
          ),
        );
      }
      case "/api/upstreams":
        return send(res, 200, await upstreams(gw));
      case "/api/stats":
        return send(res, 200, {
          ...(gw.workers ? await gw.workers.stats() : gw.observability.stats.snapshot()),
          metrics: gw.workers
            ? (gw.config.admin as { metrics?: boolean } | undefined)?.metrics !== false
            : (gw.observability.current?.metrics ?? null) !== null,
          allowWrites: settings.allowWrites,
        });
      case "/api/errors":
        return send(res, 200, { errors: gw.workers ? await gw.workers.errors() : [...(gw.observability.errorLog?.recent ?? [])].reverse() });
    }
  }

  const writes: Record<string, string> = { "/api/reload": "POST", "/api/cache/purge": "POST", "/api/config": "PUT" };
  if (writes[route] === method) {
    if (!settings.allowWrites) return refuse(res, "PTC_ERR_ADMIN_READ_ONLY");
    if (route === "/api/reload") return reload(gw, res);
    if (route === "/api/config") return putConfig(gw, req, res);
    if (!gw.purgeCache) return refuse(res, "PTC_ERR_ADMIN_UNSUPPORTED", "this gateway has no cache to purge");
    let options: Record<string, unknown> = {};
    const body = await readBody(req);
    if (body.trim() !== "") {
      try {
        options = JSON.parse(body) as Record<string, unknown>;
      } catch {
        return refuse(res, "PTC_ERR_ADMIN_BAD_REQUEST", "the body must be JSON");
      }
    }
    try {
      return send(res, 200, (await gw.purgeCache(options)) ?? { purged: true });
    } catch (error) {
      if (error instanceof PorticoError && error.code.startsWith("PTC_ERR_ADMIN_")) return refuse(res, error.code, error.message);
      throw error;
    }
  }
  return refuse(res, "PTC_ERR_ADMIN_NOT_FOUND");
}
