/**
 * A request's way in, before its lifecycle: the request target split and its path normalised,
 * one pass over the raw headers for Host and Content-Length, the virtual host (forceSSL's 301),
 * the location (404, the 301 to "/x/"), clientMaxBodySize against Content-Length; then the
 * location's lifecycle (request.ts). Upgrade requests take the same way with their socket.
 */
import { type IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { TLSSocket } from "node:tls";
import type { Plan, VirtualHostPlan } from "../compile/plan.js";
import { nextRequestId, SERVER_NAME, sendError, statusPage } from "../http/respond.js";
import { splitTarget } from "../http/target.js";
import { redirectBase } from "../http/variables.js";
import type { Observer } from "../observability/index.js";
import { normalizePath } from "../router/normalize-path.js";
import type { HostMatcher } from "../router/virtual-hosts.js";
import { normalizeHost } from "../router/virtual-hosts.js";
import type { RequestTarget } from "../upstream/route.js";
import { requestRefused } from "./exit.js";
import { runLocation, type Upgrade } from "./request.js";

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;
/** Upgrade requests (WebSocket) after the server handed over the socket. */
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

export interface Dispatcher {
  /** Requests on plain listeners. */
  handle: RequestHandler;
  /** Requests on TLS listeners (HTTP/1.1 and HTTP/2): the virtual hosts with onlySSL, addSSL or forceSSL. */
  handleTls: RequestHandler;
  /** Upgrade requests (WebSocket), on plain and TLS listeners. */
  handleUpgrade: UpgradeHandler;
}

const NOT_FOUND_BODY = Buffer.from(statusPage(404));
const NOT_FOUND_HEADERS = ["Server", SERVER_NAME, "Content-Type", "text/html", "Content-Length", String(NOT_FOUND_BODY.length)];
const MOVED_BODY = statusPage(301);

function movedPermanently(res: ServerResponse, location: string): void {
  res.writeHead(301, ["Server", SERVER_NAME, "Location", location, "Content-Type", "text/html", "Content-Length", String(MOVED_BODY.length)]);
  res.end(MOVED_BODY);
}

export function createDispatcher(plan: Plan, observer: Observer | null): Dispatcher {
  const { logger, clientAddress } = plan;

  function route(hosts: HostMatcher<VirtualHostPlan>, scheme: "http" | "https", req: IncomingMessage, res: ServerResponse, upgrade: Upgrade | null): void {
    const split = splitTarget(req.url ?? "/");
    const path = split ? normalizePath(split.rawPath) : null;
    if (!split || path === null) {
      requestRefused(logger, req, res, "PTC_ERR_REQUEST_BAD_PATH", clientAddress(req));
      return;
    }

    // One pass over the raw headers for what routing needs, without building req.headers.
    const raw = req.rawHeaders;
    let hostHeader: string | undefined;
    let hostCount = 0;
    let contentLength = -1;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i] as string;
      if (name.length === 4 && name.toLowerCase() === "host") {
        hostHeader = raw[i + 1];
        hostCount++;
      } else if (name.length === 14 && name.toLowerCase() === "content-length") contentLength = Number(raw[i + 1]);
      // HTTP/2 (RFC 9113 8.3.1): :authority stands for Host, which then is usually absent.
      else if (name.length === 10 && name === ":authority" && hostCount === 0) {
        hostHeader = raw[i + 1];
        hostCount = 1;
      }
    }
    // RFC 9112 3.2: HTTP/1.1 needs exactly one Host (nginx: "client sent duplicate host header");
    // an absolute-form target names the host itself and takes precedence.
    const host = hostCount > 1 || (hostCount === 0 && split.host === undefined && req.httpVersion === "1.1") ? null : normalizeHost(split.host ?? hostHeader);
    if (host === null) {
      requestRefused(logger, req, res, "PTC_ERR_REQUEST_BAD_HOST", clientAddress(req));
      return;
    }
    const vhost = hosts.match(host).data;
    if (vhost.forceSSL) {
      // NixOS forceSSL: return 301 https://$host$request_uri;
      movedPermanently(res, `https://${host || vhost.names[0] || "localhost"}${split.raw}`);
      return;
    }
    const found = vhost.locations.match(path);
    if (found === null) {
      res.writeHead(404, NOT_FOUND_HEADERS);
      res.end(NOT_FOUND_BODY);
      return;
    }
    if ("redirectTo" in found) {
      const query = split.rawQuery ? `?${split.rawQuery}` : "";
      movedPermanently(res, redirectBase(scheme, host || vhost.names[0] || "localhost", req) + found.redirectTo + query);
      return;
    }
    const location = found.location.data;
    if (location.bodyLimit > 0 && contentLength > location.bodyLimit) {
      requestRefused(logger, req, res, "PTC_ERR_REQUEST_BODY_TOO_LARGE", clientAddress(req));
      return;
    }
    const target: RequestTarget = { raw: split.raw, rawPath: split.rawPath, rawQuery: split.rawQuery, path };
    try {
      runLocation(location, req, res, target, found.captures ? Array.from(found.captures) : null, upgrade, clientAddress);
    } catch (error) {
      // A bug of ours must cost one request, never the process.
      const requestId = nextRequestId();
      logger.error({ code: "PTC_ERR_HOOK_FAILED", requestId, location: location.summary.key, err: error }, "request handler threw");
      sendError(res, "PTC_ERR_HOOK_FAILED", requestId);
    }
  }

  const { plainHosts } = plan;
  const tlsHosts = plan.tlsHosts ?? plainHosts;
  let handle: RequestHandler = (req, res) => route(plainHosts, "http", req, res, null);
  let handleTls: RequestHandler = (req, res) => route(tlsHosts, "https", req, res, null);
  if (observer !== null) {
    handle = observer.wrapTable(handle, clientAddress);
    handleTls = observer.wrapTable(handleTls, clientAddress);
  }

  /**
   * An Upgrade request: routed like any other. A proxyWebsockets location opens the tunnel; any
   * other answers it as a plain request (nginx drops Upgrade as hop-by-hop), then closes.
   */
  function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const res = new ServerResponse(req);
    res.assignSocket(socket as Socket);
    res.shouldKeepAlive = false;
    res.once("finish", () => socket.end());
    const tls = (socket as TLSSocket).encrypted === true;
    route(tls ? tlsHosts : plainHosts, tls ? "https" : "http", req, res, { socket, head });
  }

  return { handle, handleTls, handleUpgrade };
}
