/**
 * The gateway's listeners: plain HTTP/1.1, and TLS (HTTP/1.1, plus HTTP/2 by ALPN when a TLS
 * virtual host wants it). They outlive a config: a reload opens the new addresses, closes the
 * dropped ones, and keeps the others open, giving TLS listeners the new certificates (the SNI
 * callback reads the current table; setSecureContext swaps the default certificate).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse, STATUS_CODES } from "node:http";
import { createSecureServer, type Http2SecureServer, type Http2ServerRequest, type Http2ServerResponse, type ServerHttp2Session } from "node:http2";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { SecureContext, TLSSocket } from "node:tls";
import type { Logger } from "pino";
import { isConnectionSpecific } from "../http/hop-headers.js";
import { SERVER_NAME, statusPage } from "../http/respond.js";
import type { ListenAddress, RouteTable } from "./route-table.js";

export interface BoundAddress {
  host: string;
  port: number;
  /** `http://host:port` (`https://` on a TLS listener), ready for a client. */
  url: string;
  /** A TLS listener. */
  ssl: boolean;
}

type AnyServer = Server | Http2SecureServer;

interface Listener {
  server: AnyServer;
  ssl: boolean;
  /** TLS connections and HTTP/2 sessions, which the HTTP/1 server's closeIdleConnections does not see. */
  secure: Set<TLSSocket>;
  sessions: Set<ServerHttp2Session>;
  /** Upgraded connections (WebSocket tunnels), which servers no longer track. */
  tunnels: Set<Duplex>;
}

/** Plain and TLS listeners on one address are different servers; so are h2 and HTTP/1.1-only TLS ones. */
function listenerKey(address: ListenAddress, table: RouteTable): string {
  const kind = address.ssl ? (table.tls?.http2 ? "h2" : "tls") : "http";
  return `${address.host ?? "*"}:${address.port}|${kind}`;
}

/**
 * Answers a request the HTTP parser refused: 400, 431 for oversized headers, then closes. When a
 * response on this connection has already begun (a bad chunk arrived while a proxied answer
 * streams), an error page would be read as part of that body: the connection is cut instead.
 */
function onClientError(logger: Logger) {
  return (err: NodeJS.ErrnoException, socket: Duplex) => {
    const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
    const ip = (socket as Socket).remoteAddress;
    if (err.code === "ECONNRESET" || !socket.writable || inFlight?.headersSent) {
      if (inFlight?.headersSent) logger.info({ code: "PTC_ERR_REQUEST_MALFORMED", parser: err.code, ip }, "malformed request body, response cut");
      socket.destroy();
      return;
    }
    const status = err.code === "HPE_HEADER_OVERFLOW" ? 431 : err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : 400;
    const body = statusPage(status);
    logger.info(
      { code: status === 431 ? "PTC_ERR_REQUEST_HEADERS_TOO_LARGE" : "PTC_ERR_REQUEST_MALFORMED", parser: err.code, ip },
      "malformed request refused",
    );
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nServer: ${SERVER_NAME}\r\nDate: ${new Date().toUTCString()}\r\nContent-Type: text/html\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  };
}

/**
 * RFC 9113 8.2.2: an HTTP/2 response carries no connection-specific fields, and Node throws on
 * them. A hook or an upstream may still set one: dropped here, for HTTP/2 responses only.
 */
function guardHttp2Head(res: ServerResponse): void {
  const writeHead = res.writeHead;
  const strip = (headers: unknown): unknown => {
    if (Array.isArray(headers)) {
      const out: string[] = [];
      for (let i = 0; i < headers.length; i += 2) if (!isConnectionSpecific(String(headers[i]).toLowerCase())) out.push(headers[i], headers[i + 1]);
      return out;
    }
    if (headers && typeof headers === "object") {
      const out: Record<string, unknown> = {};
      for (const [name, value] of Object.entries(headers)) if (!isConnectionSpecific(name.toLowerCase())) out[name] = value;
      return out;
    }
    return headers;
  };
  res.writeHead = function writeHeadHttp2(this: ServerResponse, status: number, ...rest: unknown[]) {
    // writeHead(status, headers) or writeHead(status, statusText, headers); HTTP/2 has no status text.
    const headers = typeof rest[0] === "string" ? rest[1] : rest[0];
    for (const name of res.getHeaderNames()) if (isConnectionSpecific(name)) res.removeHeader(name);
    return writeHead.call(this, status, strip(headers) as string[]);
  } as ServerResponse["writeHead"];
}

export class Listeners {
  readonly #logger: Logger;
  readonly #table: () => RouteTable;
  readonly #handler: (req: IncomingMessage, res: ServerResponse) => void;
  #listeners = new Map<string, Listener>();

  readonly #tlsHandler = (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse): void => {
    if (req.httpVersionMajor === 2) guardHttp2Head(res as unknown as ServerResponse);
    this.#table().handleTls(req as IncomingMessage, res as ServerResponse);
  };

  /** SNI: the certificate of the virtual host the client names, from the current table. */
  readonly #sni = (serverName: string, callback: (err: Error | null, context?: SecureContext) => void): void => {
    const tls = this.#table().tls;
    if (tls) callback(null, tls.contextFor(serverName));
    else callback(new Error("no TLS virtual host"));
  };

  /** `handler` serves plain listeners (the Gateway's, which reads the current table per request). */
  constructor(logger: Logger, table: () => RouteTable, handler: (req: IncomingMessage, res: ServerResponse) => void) {
    this.#logger = logger;
    this.#table = table;
    this.#handler = handler;
  }

  get size(): number {
    return this.#listeners.size;
  }

  addresses(): BoundAddress[] {
    return [...this.#listeners.values()].map(({ server, ssl }) => {
      const info = server.address() as AddressInfo;
      const host = info.family === "IPv6" ? `[${info.address}]` : info.address;
      const clientHost = host === "0.0.0.0" ? "127.0.0.1" : host === "[::]" ? "[::1]" : host;
      return { host: info.address, port: info.port, url: `${ssl ? "https" : "http"}://${clientHost}:${info.port}`, ssl };
    });
  }

  #createServer(address: ListenAddress, table: RouteTable): AnyServer {
    const http1 = {
      maxHeaderSize: table.server.maxHeaderSize,
      headersTimeout: table.server.headersTimeout,
      // nginx has no whole-request deadline; slow bodies are bounded by the proxy timeouts.
      requestTimeout: 0,
      keepAliveTimeout: table.server.keepAliveTimeout,
      // The route table checks Host itself, so that its 400 looks like the gateway's other refusals (and inject() agrees).
      requireHostHeader: false,
    };
    if (!address.ssl) {
      const server = createServer(http1, this.#handler);
      server.keepAliveTimeout = table.server.keepAliveTimeout;
      return server;
    }
    const tls = table.tls;
    if (!tls) throw new Error("a TLS listener needs a TLS virtual host");
    const secure = { ...tls.defaultOptions, SNICallback: this.#sni };
    if (tls.http2) {
      // ALPN: h2 first, HTTP/1.1 beside it on the same port.
      const server = createSecureServer({ ...secure, allowHTTP1: true }, this.#tlsHandler);
      return server;
    }
    const server = createHttpsServer({ ...secure, ...http1 }, this.#tlsHandler);
    server.keepAliveTimeout = table.server.keepAliveTimeout;
    return server;
  }

  async #open(address: ListenAddress, table: RouteTable): Promise<Listener> {
    const server = this.#createServer(address, table);
    server.on("clientError", onClientError(this.#logger));
    const listener: Listener = { server, ssl: address.ssl, secure: new Set(), sessions: new Set(), tunnels: new Set() };
    server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      listener.tunnels.add(socket);
      socket.once("close", () => listener.tunnels.delete(socket));
      this.#table().handleUpgrade(req, socket, head);
    });
    if (address.ssl) {
      server.on("tlsClientError", (err: NodeJS.ErrnoException, socket: TLSSocket) => {
        this.#logger.debug({ code: err.code, ip: socket.remoteAddress, err: { message: err.message } }, "TLS handshake failed");
      });
      server.on("secureConnection", (socket: TLSSocket) => {
        listener.secure.add(socket);
        socket.once("close", () => listener.secure.delete(socket));
      });
      server.on("session", (session: ServerHttp2Session) => {
        listener.sessions.add(session);
        session.once("close", () => listener.sessions.delete(session));
      });
    }
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: address.host, port: address.port }, () => {
        server.off("error", reject);
        resolve();
      });
    });
    return listener;
  }

  /** Opens what `table` lists and is not open, closes what it no longer lists, keeps the rest (with its certificates renewed). */
  async sync(table: RouteTable): Promise<void> {
    const wanted = new Map(table.listen.map((address) => [listenerKey(address, table), address]));
    // A listener whose kind changes (plain ↔ TLS, h2 on/off) is closed first: its port is taken.
    for (const [key, listener] of this.#listeners) {
      if (wanted.has(key)) continue;
      const address = `${key.slice(0, key.lastIndexOf("|"))}|`;
      if (![...wanted.keys()].some((other) => other.startsWith(address))) continue;
      this.#listeners.delete(key);
      await this.#stop(listener, 0);
    }
    const opened: Array<[string, Listener]> = [];
    try {
      for (const [key, address] of wanted) {
        if (!this.#listeners.has(key)) opened.push([key, await this.#open(address, table)]);
      }
    } catch (error) {
      await Promise.all(opened.map(([, listener]) => this.#stop(listener, 0)));
      throw error;
    }
    for (const [key, listener] of opened) this.#listeners.set(key, listener);
    for (const [key, listener] of this.#listeners) {
      if (!wanted.has(key)) {
        this.#listeners.delete(key);
        void this.#stop(listener, table.server.shutdownTimeout);
      } else if (listener.ssl && table.tls) {
        // Clients without SNI get the default virtual host's certificate; SNI reads the table.
        (listener.server as unknown as { setSecureContext(options: object): void }).setSecureContext(table.tls.defaultOptions);
      }
    }
  }

  /** Stops a server: in-flight requests get `timeout` ms, then their connections are cut. */
  #stop(listener: Listener, timeout: number): Promise<void> {
    const { server } = listener;
    return new Promise<void>((resolve) => {
      const cut = () => {
        (server as Server).closeAllConnections?.();
        for (const session of listener.sessions) session.destroy();
        for (const socket of listener.secure) socket.destroy();
        for (const socket of listener.tunnels) socket.destroy();
      };
      const timer = setTimeout(cut, timeout);
      timer.unref();
      server.close(() => {
        clearTimeout(timer);
        resolve();
      });
      (server as Server).closeIdleConnections?.();
      // HTTP/2: GOAWAY, streams in flight finish. HTTP/1.1 on an h2 listener: idle connections go now.
      for (const session of listener.sessions) session.close();
      for (const socket of listener.secure) {
        const inFlight = (socket as TLSSocket & { _httpMessage?: ServerResponse | null })._httpMessage;
        if (!("closeIdleConnections" in server) && socket.alpnProtocol !== "h2" && !inFlight) socket.destroy();
      }
    });
  }

  /** Stops accepting; requests in flight get `timeout` ms to finish, then connections are cut. */
  async close(timeout: number): Promise<void> {
    const listeners = [...this.#listeners.values()];
    this.#listeners.clear();
    await Promise.all(listeners.map((listener) => this.#stop(listener, timeout)));
  }
}
