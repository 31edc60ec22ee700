/**
 * The gateway: owns what outlives one config (listeners, upstream pools, the logger) and the
 * current RouteTable, which a reload replaces in one assignment. A request in flight keeps the
 * table it started with; the next one takes the new table.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse, STATUS_CODES } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { type Logger, pino } from "pino";
import type { PorticoConfig } from "./config/schema.js";
import { readConfigSource, sourceFromObject } from "./config/source.js";
import { validateConfig } from "./config/validate.js";
import { ConfigError, type ConfigIssue, formatIssue } from "./errors.js";
import { type AnyPlugin, checkPluginSet } from "./pipeline/plugin.js";
import { SERVER_NAME, statusPage } from "./pipeline/respond.js";
import { BUILTIN_PLUGINS } from "./plugins/index.js";
import { PoolRegistry } from "./proxy/upstreams.js";
import { compileRouteTable, type ListenAddress, type RouteTable } from "./route-table.js";
import { RedisConnections } from "./state/redis.js";
import { SharedState } from "./state/shared-state.js";

export interface GatewayOptions {
  /** Plugins beyond the built-in ones; their config keys become valid at every level. */
  plugins?: readonly AnyPlugin[];
  /** A pino logger; by default JSON lines on stdout at the config's logLevel. */
  logger?: Logger;
  env?: NodeJS.ProcessEnv;
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
  /** `http://host:port`, ready for a client. */
  url: string;
}

export type ConfigInput = PorticoConfig | string;

/** What outlives one config: upstream pools, Redis connections, plugin state. */
interface Services {
  pools: PoolRegistry;
  shared: SharedState;
  redis: RedisConnections;
}

function createServices(logger: Logger): Services {
  return { pools: new PoolRegistry(), shared: new SharedState(), redis: new RedisConnections(logger) };
}

async function closeServices(services: Services): Promise<void> {
  await services.pools.closeAll();
  await services.shared.closeAll();
  await services.redis.closeAll();
}

async function loadTable(input: ConfigInput, plugins: readonly AnyPlugin[], services: Services, logger: Logger, env: NodeJS.ProcessEnv): Promise<RouteTable> {
  const source = typeof input === "string" ? await readConfigSource(input) : sourceFromObject(input);
  const { config } = validateConfig(source, plugins, env);
  const generation = services.shared.beginGeneration();
  const table = await compileRouteTable(config, { source, plugins, logger, ...services });
  generations.set(table, generation);
  return table;
}

/** The SharedState generation each table was loaded in. */
const generations = new WeakMap<RouteTable, number>();

/** Validates a config like `nginx -t`: resolves with the warnings, rejects with a ConfigError. */
export async function checkConfig(input: ConfigInput, options: GatewayOptions = {}): Promise<{ warnings: ConfigIssue[]; table: RouteTable }> {
  const plugins = [...BUILTIN_PLUGINS, ...(options.plugins ?? [])];
  checkPluginSet(plugins);
  const logger = options.logger ?? pino({ level: "silent" });
  const services = createServices(logger);
  try {
    const table = await loadTable(input, plugins, services, logger, options.env ?? process.env);
    await table.close();
    return { warnings: table.warnings, table };
  } finally {
    await closeServices(services);
  }
}

function addressKey(address: ListenAddress): string {
  return `${address.host ?? "*"}:${address.port}`;
}

/**
 * Answers a request the HTTP parser refused: 400, 431 for oversized headers, then closes. When a
 * response on this connection has already begun (a bad chunk arrived while a proxied answer
 * streams), an error page would be read as part of that body: the connection is cut instead.
 */
function onClientError(logger: Logger) {
  return (err: NodeJS.ErrnoException, socket: Socket) => {
    const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (err.code === "ECONNRESET" || !socket.writable || inFlight?.headersSent) {
      if (inFlight?.headersSent)
        logger.info({ code: "PTC_ERR_REQUEST_MALFORMED", parser: err.code, ip: socket.remoteAddress }, "malformed request body, response cut");
      socket.destroy();
      return;
    }
    const status = err.code === "HPE_HEADER_OVERFLOW" ? 431 : err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : 400;
    const body = statusPage(status);
    logger.info(
      { code: status === 431 ? "PTC_ERR_REQUEST_HEADERS_TOO_LARGE" : "PTC_ERR_REQUEST_MALFORMED", parser: err.code, ip: socket.remoteAddress },
      "malformed request refused",
    );
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nServer: ${SERVER_NAME}\r\nDate: ${new Date().toUTCString()}\r\nContent-Type: text/html\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  };
}

export class Gateway {
  readonly logger: Logger;
  readonly #plugins: readonly AnyPlugin[];
  readonly #services: Services;
  readonly #env: NodeJS.ProcessEnv;
  #input: ConfigInput;
  #table: RouteTable;
  #servers = new Map<string, Server>();
  #closing = false;
  /** The one request handler every listener shares; it reads the current table on each request. */
  readonly handler = (req: IncomingMessage, res: ServerResponse): void => this.#table.handle(req, res);

  constructor(input: ConfigInput, table: RouteTable, plugins: readonly AnyPlugin[], services: Services, logger: Logger, env: NodeJS.ProcessEnv) {
    this.#input = input;
    this.#table = table;
    this.#plugins = plugins;
    this.#services = services;
    this.logger = logger;
    this.#env = env;
  }

  get table(): RouteTable {
    return this.#table;
  }

  /** Opens the config's listeners; resolves with the bound addresses (port 0 gets one from the OS). */
  async listen(): Promise<BoundAddress[]> {
    await this.#syncListeners(this.#table);
    return this.addresses();
  }

  addresses(): BoundAddress[] {
    return [...this.#servers.values()].map((server) => {
      const info = server.address() as AddressInfo;
      const host = info.family === "IPv6" ? `[${info.address}]` : info.address;
      const clientHost = host === "0.0.0.0" ? "127.0.0.1" : host === "[::]" ? "[::1]" : host;
      return { host: info.address, port: info.port, url: `http://${clientHost}:${info.port}` };
    });
  }

  async #openListener(address: ListenAddress, table: RouteTable): Promise<Server> {
    const server = createServer(
      {
        maxHeaderSize: table.server.maxHeaderSize,
        headersTimeout: table.server.headersTimeout,
        // nginx has no whole-request deadline; slow bodies are bounded by the proxy timeouts.
        requestTimeout: 0,
        keepAliveTimeout: table.server.keepAliveTimeout,
        // The route table checks Host itself, so that its 400 looks like the gateway's other refusals (and inject() agrees).
        requireHostHeader: false,
      },
      this.handler,
    );
    server.keepAliveTimeout = table.server.keepAliveTimeout;
    server.on("clientError", onClientError(this.logger));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: address.host, port: address.port }, () => {
        server.off("error", reject);
        resolve();
      });
    });
    return server;
  }

  async #syncListeners(table: RouteTable): Promise<void> {
    const wanted = new Map(table.listen.map((address) => [addressKey(address), address]));
    const opened: Array<[string, Server]> = [];
    try {
      for (const [key, address] of wanted) {
        if (!this.#servers.has(key)) opened.push([key, await this.#openListener(address, table)]);
      }
    } catch (error) {
      await Promise.all(opened.map(([, server]) => new Promise((resolve) => server.close(resolve))));
      throw error;
    }
    for (const [key, server] of opened) this.#servers.set(key, server);
    for (const [key, server] of this.#servers) {
      if (wanted.has(key)) continue;
      this.#servers.delete(key);
      server.close();
      server.closeIdleConnections();
    }
  }

  /**
   * Loads the config again (or `next`), and swaps it in only if it is valid and its listeners
   * open; otherwise throws and the running config keeps serving.
   */
  async reload(next?: ConfigInput): Promise<{ warnings: ConfigIssue[] }> {
    const input = next ?? this.#input;
    const table = await loadTable(input, this.#plugins, this.#services, this.logger, this.#env);
    if (this.#servers.size > 0) {
      try {
        await this.#syncListeners(table);
      } catch (error) {
        await table.close();
        throw error;
      }
    }
    const previous = this.#table;
    this.#table = table;
    this.#input = input;
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
    const servers = [...this.#servers.values()];
    this.#servers.clear();
    const timeout = this.#table.server.shutdownTimeout;
    await Promise.all(
      servers.map(
        (server) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(() => server.closeAllConnections(), timeout);
            timer.unref();
            server.close(() => {
              clearTimeout(timer);
              resolve();
            });
            server.closeIdleConnections();
          }),
      ),
    );
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
  const logger = options.logger ?? pino({ level: env.PORTICO_LOG_LEVEL ?? "info", base: { name: "portico" } });
  const services = createServices(logger);
  let table: RouteTable;
  try {
    table = await loadTable(input, plugins, services, logger, env);
  } catch (error) {
    await closeServices(services);
    throw error;
  }
  if (!options.logger && !env.PORTICO_LOG_LEVEL && table.server.logLevel) logger.level = table.server.logLevel;
  for (const warning of table.warnings) logger.warn({ file: warning.file, line: warning.line, path: warning.path }, formatIssue(warning));
  return new Gateway(input, table, plugins, services, logger, env);
}

export { ConfigError };
