/**
 * The gateway: owns what outlives one config (listeners, upstream pools, the logger) and the
 * current RouteTable, which a reload replaces in one assignment. A request in flight keeps the
 * table it started with; the next one takes the new table.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import path from "node:path";
import { type Logger, pino } from "pino";
import { compilePlan } from "./compile/index.js";
import type { LocationSummary } from "./compile/plan.js";
import type { PorticoConfig } from "./config/schema.js";
import { readConfigSource, sourceFromObject } from "./config/source.js";
import { validateConfig } from "./config/validate.js";
import { ConfigError, type ConfigIssue, formatIssue, PorticoError } from "./errors.js";
import { type AnyPlugin, checkPluginSet } from "./lifecycle/plugin.js";
import { createErrorLogger, ErrorLogStream } from "./observability/error-log.js";
import { Observability, type Observer } from "./observability/index.js";
import { BUILTIN_PLUGINS } from "./plugins/index.js";
import { type AdminServer, adminSettings, syncAdminServer } from "./server/admin.js";
import { Listeners } from "./server/listeners.js";
import { createRouteTable, type RouteTable } from "./server/route-table.js";
import { RedisConnections } from "./state/redis.js";
import { SharedState } from "./state/shared-state.js";
import { UpstreamRegistry, type UpstreamStatus } from "./upstream/health.js";
import { PoolRegistry } from "./upstream/pools.js";

export interface GatewayOptions {
  /** Plugins beyond the built-in ones; their config keys become valid at every level. */
  plugins?: readonly AnyPlugin[];
  /** A pino logger; by default JSON lines on stdout at the config's logLevel. */
  logger?: Logger;
  env?: NodeJS.ProcessEnv;
  /** false: never open the config's admin listener (a worker process: the primary serves it). */
  adminListener?: boolean;
}

export interface InjectOptions {
  method?: string;
  url: string;
  headers?: Record<string, string | string[]>;
  body?: string | Buffer | object;
  remoteAddress?: string;
}

export interface InjectResponse {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: string;
  rawBody: Buffer;
  json<T = unknown>(): T;
}

export interface BoundAddress {
  host: string;
  port: number;
  /** `http://host:port` (`https://` on a TLS listener), ready for a client. */
  url: string;
  /** A TLS listener (listen entry with `ssl: true`). */
  ssl?: boolean;
}

export type ConfigInput = PorticoConfig | string;

/** What outlives one config: upstream pools, Redis connections, plugin state. */
interface Services {
  pools: PoolRegistry;
  shared: SharedState;
  redis: RedisConnections;
  /** Upstream server states and active health checks, kept across reloads. */
  upstreams: UpstreamRegistry;
  /** Access log, metrics, tracing (none for `portico check`). */
  observability: Observability | null;
}

function createServices(logger: Logger, observability: Observability | null = null): Services {
  return { pools: new PoolRegistry(), shared: new SharedState(), redis: new RedisConnections(logger), upstreams: new UpstreamRegistry(logger), observability };
}

async function closeServices(services: Services): Promise<void> {
  services.upstreams.closeAll();
  await services.pools.closeAll();
  await services.shared.closeAll();
  await services.redis.closeAll();
  await services.observability?.close();
}

async function loadTable(input: ConfigInput, plugins: readonly AnyPlugin[], services: Services, logger: Logger, env: NodeJS.ProcessEnv): Promise<RouteTable> {
  const source = typeof input === "string" ? await readConfigSource(input) : sourceFromObject(input);
  const { config } = validateConfig(source, plugins, env);
  const generation = services.shared.beginGeneration();
  const observability = services.observability;
  const observer = observability?.prepare(config, source.baseDir) ?? null;
  let table: RouteTable;
  try {
    const bindLocation = observer ? (summary: LocationSummary) => observer.bindLocation(summary) : null;
    table = createRouteTable(await compilePlan(config, { source, plugins, logger, ...services, bindLocation }), observer);
  } catch (error) {
    // Sinks opened for this config alone are closed again.
    observability?.retain(observability.current);
    throw error;
  }
  generations.set(table, generation);
  observed.set(table, { config, observer });
  return table;
}

/** errorLog and logLevel of a config, for the gateway's own logger (not a logger given in the options). */
function applyErrorLog(stream: ErrorLogStream | null, logger: Logger, config: Record<string, unknown>, baseDir: string, env: NodeJS.ProcessEnv): void {
  if (stream === null) return;
  const errorLog = config.errorLog as { path?: string; level?: string } | undefined;
  stream.setPath(errorLog?.path && errorLog.path !== "stdout" ? path.resolve(baseDir, errorLog.path) : "stdout");
  const level = env.PORTICO_LOG_LEVEL ?? errorLog?.level ?? (config.logLevel as string | undefined);
  if (level) logger.level = level;
}

/** The validated config and the Observer of each table. */
const observed = new WeakMap<RouteTable, { config: Record<string, unknown>; observer: Observer | null }>();

/** The SharedState generation each table was loaded in. */
const generations = new WeakMap<RouteTable, number>();

/** Validates a config like `nginx -t`: resolves with the warnings, rejects with a ConfigError. */
export async function checkConfig(
  input: ConfigInput,
  options: GatewayOptions = {},
): Promise<{ warnings: ConfigIssue[]; table: RouteTable; config: Record<string, unknown> }> {
  const plugins = [...BUILTIN_PLUGINS, ...(options.plugins ?? [])];
  checkPluginSet(plugins);
  const logger = options.logger ?? pino({ level: "silent" });
  const services = createServices(logger);
  try {
    const table = await loadTable(input, plugins, services, logger, options.env ?? process.env);
    await table.close();
    return { warnings: table.warnings, table, config: observed.get(table)?.config ?? {} };
  } finally {
    await closeServices(services);
  }
}

export class Gateway {
  readonly logger: Logger;
  readonly #plugins: readonly AnyPlugin[];
  readonly #services: Services;
  readonly #env: NodeJS.ProcessEnv;
  #input: ConfigInput;
  #table: RouteTable;
  /** HTTP, TLS and HTTP/2 listeners (src/server/listeners.ts); kept across reloads. */
  readonly #listeners: Listeners;
  #closing = false;
  #admin: AdminServer | null = null;
  /** The one request handler every listener shares; it reads the current table on each request. */
  readonly handler = (req: IncomingMessage, res: ServerResponse): void => this.#table.handle(req, res);

  readonly #adminListener: boolean;

  constructor(
    input: ConfigInput,
    table: RouteTable,
    plugins: readonly AnyPlugin[],
    services: Services,
    logger: Logger,
    env: NodeJS.ProcessEnv,
    adminListener = true,
  ) {
    this.#adminListener = adminListener;
    this.#input = input;
    this.#table = table;
    this.#plugins = plugins;
    this.#services = services;
    this.logger = logger;
    this.#env = env;
    this.#listeners = new Listeners(logger, () => this.#table, this.handler);
    services.upstreams.activate(table.upstreams);
  }

  /**
   * Purges proxyCache entries in every cache zone (memory and Redis): `{ key }` that entry (with its
   * Vary variants and method forms), `{ prefix }` every key that starts with it; `zone` limits it to one zone.
   */
  async purgeCache(target: { key?: unknown; prefix?: unknown; zone?: unknown }): Promise<{ purged: number; zones: string[] }> {
    const { key, prefix, zone } = target;
    if ((typeof key === "string") === (typeof prefix === "string") || key === "" || prefix === "") {
      throw new PorticoError("PTC_ERR_ADMIN_BAD_REQUEST", "give either key or prefix (a non-empty string)");
    }
    let purged = 0;
    const zones: string[] = [];
    for (const value of this.#services.shared.values("proxyCache:")) {
      const cache = value as { store?: { zone: string }; purge?: (target: { key: string } | { prefix: string }) => Promise<number> };
      if (typeof cache.purge !== "function" || !cache.store || (typeof zone === "string" && cache.store.zone !== zone)) continue;
      purged += await cache.purge(typeof key === "string" ? { key } : { prefix: prefix as string });
      zones.push(cache.store.zone);
    }
    return { purged, zones };
  }

  /** Upstream groups of the running config and the state of each server (health, breaker, in flight). */
  upstreamStatus(): UpstreamStatus[] {
    return this.#services.upstreams.status(this.#table.upstreams);
  }

  get table(): RouteTable {
    return this.#table;
  }

  /** The running config, validated (defaults not filled in). */
  get config(): Record<string, unknown> {
    return observed.get(this.#table)?.config ?? {};
  }

  /** The config file, when the gateway was created from one. */
  get configFile(): string | null {
    return typeof this.#input === "string" ? this.#table.source.file : null;
  }

  /** Access log, metrics, live stats, tracing, recent errors. */
  get observability(): Observability {
    return this.#services.observability as Observability;
  }

  /** Listeners open, config loaded, not shutting down (the admin listener's /readyz). */
  get ready(): boolean {
    return this.#listeners.size > 0 && !this.#closing;
  }

  /** Validates a config file as `portico check` does, with this gateway's plugins. */
  check(file: string): Promise<{ warnings: ConfigIssue[] }> {
    return checkConfig(file, { plugins: this.#plugins.filter((plugin) => !BUILTIN_PLUGINS.includes(plugin)), env: this.#env });
  }

  /** The admin listener's address, when the config has `admin` and the gateway listens. */
  adminAddress(): BoundAddress | null {
    return this.#admin?.address() ?? null;
  }

  /** SIGUSR1: reopens the access and error log files (after logrotate moved them), as nginx does. */
  reopenLogs(): void {
    this.observability.reopen();
  }

  /** Resolves once log lines written so far reached their files and spans were exported. */
  flushLogs(): Promise<void> {
    return this.observability.flush();
  }

  /** Opens the config's listeners; resolves with the bound addresses (port 0 gets one from the OS). */
  async listen(): Promise<BoundAddress[]> {
    await this.#listeners.sync(this.#table);
    try {
      await this.#syncAdmin();
    } catch (error) {
      await this.#listeners.close(0);
      throw error;
    }
    return this.addresses();
  }

  /** Opens, moves or closes the admin listener after the config. */
  async #syncAdmin(): Promise<void> {
    const info = observed.get(this.#table);
    const settings = info && this.#adminListener ? adminSettings(info.config, this.#table.source.baseDir) : null;
    const current = this.#admin;
    this.#admin = null;
    this.#admin = await syncAdminServer(current, this, settings);
  }

  addresses(): BoundAddress[] {
    return this.#listeners.addresses();
  }

  /**
   * Loads the config again (or `next`), and swaps it in only if it is valid and its listeners
   * open; otherwise throws and the running config keeps serving.
   */
  async reload(next?: ConfigInput): Promise<{ warnings: ConfigIssue[] }> {
    const input = next ?? this.#input;
    const table = await loadTable(input, this.#plugins, this.#services, this.logger, this.#env);
    if (this.#listeners.size > 0) {
      try {
        await this.#listeners.sync(table);
      } catch (error) {
        await table.close();
        this.#services.observability?.retain(observed.get(this.#table)?.observer ?? null);
        throw error;
      }
    }
    const previous = this.#table;
    this.#table = table;
    this.#input = input;
    this.#services.upstreams.activate(table.upstreams);
    this.#services.observability?.retain(observed.get(table)?.observer ?? null);
    applyErrorLog(this.#services.observability?.errorLog ?? null, this.logger, observed.get(table)?.config ?? {}, table.source.baseDir, this.#env);
    if (this.#listeners.size > 0) {
      await this.#syncAdmin().catch((error: unknown) =>
        this.logger.error({ code: "PTC_ERR_ADMIN_FAILED", err: error }, `the admin listener cannot follow the new config: ${(error as Error).message}`),
      );
    }
    // Requests that started on the old table may still be on their way to an upstream or a plugin
    // the new one dropped (an async hook in between): those close once requests had shutdownTimeout.
    setTimeout(() => {
      void this.#services.pools.retainOnly(this.#table.poolKeys);
      void previous.close();
      void this.#services.shared.retainSince(generations.get(this.#table) ?? 0);
    }, table.server.shutdownTimeout).unref();
    return { warnings: table.warnings };
  }

  /**
   * Stops accepting, lets requests in flight finish (up to shutdownTimeout, then cuts them),
   * and closes upstream pools.
   */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    await this.#listeners.close(this.#table.server.shutdownTimeout);
    await this.#admin?.close();
    this.#admin = null;
    await this.#table.close();
    await closeServices(this.#services);
  }

  /** Answers a request without opening a port (the proxy still calls real upstreams). */
  async inject(options: InjectOptions): Promise<InjectResponse> {
    const body = options.body;
    const payload = body === undefined || typeof body === "string" || Buffer.isBuffer(body) ? body : JSON.stringify(body);
    const headers = { ...options.headers };
    if (payload !== undefined && typeof body === "object" && !Buffer.isBuffer(body) && !Object.keys(headers).some((k) => k.toLowerCase() === "content-type")) {
      headers["content-type"] = "application/json";
    }
    // Loaded on first use: light-my-request subclasses http.ServerResponse, and merely loading it
    // slows every real response of the process by ~8 % (measured with wrk on a bare node:http server).
    const { inject: lightInject } = await import("light-my-request");
    const response = await lightInject(this.handler, {
      method: (options.method ?? "GET").toUpperCase() as "GET",
      url: options.url,
      headers,
      ...(payload !== undefined ? { payload } : {}),
      remoteAddress: options.remoteAddress ?? "127.0.0.1",
    });
    return {
      status: response.statusCode,
      headers: response.headers,
      body: response.payload,
      rawBody: response.rawPayload,
      json: <T>() => JSON.parse(response.payload) as T,
    };
  }
}

/**
 * Builds a gateway from a config object or a config file path; throws ConfigError (with every
 * problem and its position) when the config is invalid.
 *
 * @example
 * const gw = await createGateway("./portico.yaml");
 * const res = await gw.inject({ url: "/" });
 */
export async function createGateway(input: ConfigInput, options: GatewayOptions = {}): Promise<Gateway> {
  const env = options.env ?? process.env;
  const plugins = [...BUILTIN_PLUGINS, ...(options.plugins ?? [])];
  checkPluginSet(plugins);
  // Our own logger writes through a stream that can move to errorLog.path and keeps recent errors for the admin API.
  const errorLog = options.logger ? null : new ErrorLogStream();
  const logger = options.logger ?? createErrorLogger(errorLog as ErrorLogStream, env.PORTICO_LOG_LEVEL ?? "info");
  const services = createServices(logger, new Observability(errorLog));
  let table: RouteTable;
  try {
    table = await loadTable(input, plugins, services, logger, env);
  } catch (error) {
    await closeServices(services);
    throw error;
  }
  services.observability?.retain(observed.get(table)?.observer ?? null);
  applyErrorLog(errorLog, logger, observed.get(table)?.config ?? {}, table.source.baseDir, env);
  for (const warning of table.warnings) logger.warn({ file: warning.file, line: warning.line, path: warning.path }, formatIssue(warning));
  return new Gateway(input, table, plugins, services, logger, env, options.adminListener !== false);
}

export { ConfigError };
