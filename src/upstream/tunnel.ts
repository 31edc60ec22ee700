/**
 * WebSocket proxying (NixOS proxyWebsockets: nginx's `proxy_http_version 1.1; proxy_set_header
 * Upgrade $http_upgrade; proxy_set_header Connection "upgrade"`): the Upgrade request goes to one
 * server of the route; a 101 is passed back with its headers and the two sockets are joined both
 * ways; any other answer is passed back as a plain response. proxyReadTimeout is the tunnel's idle
 * timeout, as nginx's proxy_read_timeout is.
 */
import { type ClientRequest, request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";
import { request as httpsRequest } from "node:https";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { ErrorCode } from "../errors.js";
import { dropResponseHeader } from "../http/hop-headers.js";
import { nextRequestId, sendError } from "../http/respond.js";
import type { VariableSource } from "../http/variables.js";
import type { RequestContext } from "../lifecycle/context.js";
import { errorCode, type ProxyRoute, type RequestTarget, requestHeaders } from "./forward.js";
import { upstreamPath } from "./proxy-pass.js";

class ConnectTimeout extends Error {
  readonly code = "UND_ERR_CONNECT_TIMEOUT";
}

class ReadTimeout extends Error {
  readonly code = "UND_ERR_HEADERS_TIMEOUT";
}

/** The 101 head for the client: status line and the upstream's headers as they came (Upgrade, Connection, Sec-WebSocket-*). */
function switchingHead(upstream: IncomingMessage): string {
  let head = `HTTP/1.1 101 ${upstream.statusMessage || "Switching Protocols"}\r\n`;
  const raw = upstream.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) head += `${raw[i]}: ${raw[i + 1]}\r\n`;
  return `${head}\r\n`;
}

/**
 * Joins client and upstream: bytes flow both ways with backpressure (pipe), an end (FIN) is passed
 * on after the data before it, an error or reset destroys both, and `idle` ms without a byte
 * either way closes both (0: no limit).
 */
function join(client: Duplex, upstream: Socket, idle: number): void {
  let timer: NodeJS.Timeout | null = null;
  const destroyBoth = () => {
    if (timer) clearTimeout(timer);
    client.destroy();
    upstream.destroy();
  };
  client.on("error", destroyBoth);
  upstream.on("error", destroyBoth);
  client.once("close", () => {
    if (timer) clearTimeout(timer);
    if (!upstream.writableEnded) upstream.destroy();
  });
  upstream.once("close", () => {
    if (timer) clearTimeout(timer);
    if (!client.writableEnded) client.destroy();
  });
  if (idle > 0) {
    timer = setTimeout(destroyBoth, idle);
    const refresh = () => timer?.refresh();
    client.on("data", refresh);
    upstream.on("data", refresh);
  }
  client.pipe(upstream);
  upstream.pipe(client);
}

/**
 * Opens the upstream side of a WebSocket and joins it to the client's socket. `ctx` is the phase
 * engine's context when rewrite/access ran (a changed path or headers go upstream), else null.
 */
export function tunnel(
  req: IncomingMessage,
  res: ServerResponse,
  socket: Duplex,
  head: Buffer,
  route: ProxyRoute,
  target: RequestTarget,
  ctx: RequestContext | null,
  variables: VariableSource | null,
): void {
  const requestId = ctx?.requestId ?? nextRequestId();
  // One attempt, on the balancer's choice (hashKey balancing is not applied to tunnels).
  const server = route.pick(null);
  if (server === null) {
    route.logger.error({ code: "PTC_ERR_UPSTREAM_UNAVAILABLE", requestId, url: req.url, websocket: true }, "no live upstream server");
    sendError(res, "PTC_ERR_UPSTREAM_UNAVAILABLE", requestId);
    return;
  }
  const origin = new URL(server.origin);
  const path = upstreamPath(
    route.spec,
    route.prefixLength,
    ctx ? ctx.request.path : target.path,
    target.rawPath,
    target.raw,
    target.rawQuery,
    ctx?.pathChanged ?? false,
  );
  const { headers } = requestHeaders(req, route, ctx ? req.headers : null, variables);
  // Hop-by-hop, so dropped above: set again for the upstream, as NixOS's proxyWebsockets does.
  headers.push("Connection", "upgrade", "Upgrade", req.headers.upgrade ?? "websocket");

  let settled = false;
  const fail = (error: Error) => {
    if (settled) return;
    settled = true;
    const code: ErrorCode = errorCode(error);
    route.logger.error(
      {
        code,
        requestId,
        upstream: server.address,
        url: req.url,
        websocket: true,
        err: { code: (error as { code?: string }).code, message: error.message },
      },
      code === "PTC_ERR_UPSTREAM_TIMEOUT"
        ? "upstream timed out"
        : code === "PTC_ERR_UPSTREAM_TLS"
          ? "upstream TLS handshake failed"
          : "upstream WebSocket failed",
    );
    sendError(res, code, requestId);
  };

  const https = origin.protocol === "https:";
  const options = {
    host: origin.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: Number(origin.port) || (https ? 443 : 80),
    method: req.method ?? "GET",
    path,
    headers,
    setHost: false,
    agent: false,
    ...(https ? route.tls : null),
  };
  const upstreamReq: ClientRequest = https ? httpsRequest(options) : httpRequest(options);

  // proxyConnectTimeout until connected, then proxyReadTimeout until the upstream answers.
  let timer: NodeJS.Timeout | null =
    route.connectTimeout > 0 ? setTimeout(() => upstreamReq.destroy(new ConnectTimeout("connect timeout")), route.connectTimeout) : null;
  const clearTimer = () => {
    if (timer) clearTimeout(timer);
    timer = null;
  };
  upstreamReq.once("socket", (upstreamSocket: Socket) => {
    upstreamSocket.once(https ? "secureConnect" : "connect", () => {
      clearTimer();
      if (route.headersTimeout > 0) timer = setTimeout(() => upstreamReq.destroy(new ReadTimeout("no answer to the upgrade")), route.headersTimeout);
    });
  });
  const onClientGone = () => {
    if (!settled) {
      settled = true;
      clearTimer();
      upstreamReq.destroy();
    }
  };
  socket.once("close", onClientGone);

  upstreamReq.once("upgrade", (upstreamRes: IncomingMessage, upstreamSocket: Socket, upstreamHead: Buffer) => {
    clearTimer();
    socket.off("close", onClientGone);
    if (settled) {
      upstreamSocket.destroy();
      return;
    }
    settled = true;
    // The ServerResponse on this socket stays unused: the 101 is written as it came.
    socket.write(switchingHead(upstreamRes));
    if (upstreamHead.length > 0) socket.write(upstreamHead);
    if (head.length > 0) upstreamSocket.write(head);
    upstreamSocket.setNoDelay(true);
    (socket as Socket).setNoDelay?.(true);
    join(socket, upstreamSocket, route.bodyTimeout);
  });

  upstreamReq.once("response", (upstreamRes: IncomingMessage) => {
    clearTimer();
    if (settled) {
      upstreamRes.destroy();
      return;
    }
    settled = true;
    // Refused (401, 403, 400, …): passed back as a plain answer, and the connection closes.
    const list: string[] = [];
    const raw = upstreamRes.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      if (!dropResponseHeader((raw[i] as string).toLowerCase())) list.push(raw[i] as string, raw[i + 1] as string);
    }
    route.finishHeaders(upstreamRes.statusCode ?? 502, list);
    res.writeHead(upstreamRes.statusCode ?? 502, list);
    upstreamRes.pipe(res);
    upstreamRes.once("error", () => res.destroy());
  });

  upstreamReq.once("error", (error) => {
    clearTimer();
    fail(error);
  });
  upstreamReq.end();
}
