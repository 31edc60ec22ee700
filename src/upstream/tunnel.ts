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
import { dropResponseHeader } from "../http/hop-headers.js";
import type { VariableSource } from "../http/variables.js";
import { upstreamAnswered, upstreamEnded, upstreamStarted } from "../observability/record.js";
import { classify, NO_LIVE_UPSTREAMS } from "./classify.js";
import type { ExchangeExit, ExchangeInfo } from "./exchange.js";
import { beginAttempt, endAttempt, OUTCOME_FAILED, OUTCOME_NEUTRAL, OUTCOME_OK } from "./health.js";
import { hashKeyOf, type RequestEdits, requestHeaders, targetPath } from "./request.js";
import type { ProxyRoute, RequestTarget } from "./route.js";

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
 * Opens the upstream side of a WebSocket and joins it to the client's socket. `edits` are what
 * rewrite/access changed (null without phases); the request is built by the one builder, the
 * attempt is accounted like the proxy's, and failures go to `exit` classified.
 */
export function tunnel(
  req: IncomingMessage,
  res: ServerResponse,
  socket: Duplex,
  head: Buffer,
  route: ProxyRoute,
  target: RequestTarget,
  edits: RequestEdits | null,
  variables: VariableSource | null,
  requestId: string,
  exit: ExchangeExit,
): void {
  const method = req.method ?? "GET";
  const server = route.pick(null, hashKeyOf(route, edits, variables));
  const info: { -readonly [K in keyof ExchangeInfo]: ExchangeInfo[K] } = { req, res, route, method, requestId, server, started: false };
  let headers: string[];
  try {
    headers = requestHeaders(req, route, edits?.headers ?? null, variables).headers;
  } catch (error) {
    exit(info, error, classify(error));
    return;
  }
  if (server === null) {
    exit(info, new Error(NO_LIVE_UPSTREAMS.message), NO_LIVE_UPSTREAMS);
    return;
  }
  const origin = new URL(server.origin);
  // Hop-by-hop, so dropped above: set again for the upstream, as NixOS's proxyWebsockets does.
  headers.push("Connection", "upgrade", "Upgrade", req.headers.upgrade ?? "websocket");

  let settled = false;
  let attemptOpen = true;
  const release = (outcome: typeof OUTCOME_OK | typeof OUTCOME_FAILED | typeof OUTCOME_NEUTRAL) => {
    if (!attemptOpen) return;
    attemptOpen = false;
    endAttempt(server, outcome);
    upstreamEnded(res);
  };
  const fail = (error: Error) => {
    if (settled) return;
    settled = true;
    const failure = classify(error);
    release(failure.blamesServer ? OUTCOME_FAILED : OUTCOME_NEUTRAL);
    exit(info, error, failure);
  };

  const https = origin.protocol === "https:";
  const options = {
    host: origin.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: Number(origin.port) || (https ? 443 : 80),
    method,
    path: targetPath(route, target, edits),
    headers,
    setHost: false,
    agent: false,
    ...(https ? route.tls : null),
  };
  upstreamStarted(res, server.address);
  beginAttempt(server);
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
      release(OUTCOME_NEUTRAL);
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
    info.started = true;
    upstreamAnswered(res, 101);
    // The handshake is the attempt: the server answered. The tunnel's life is not its health.
    release(OUTCOME_OK);
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
    info.started = true;
    const status = upstreamRes.statusCode ?? 502;
    upstreamAnswered(res, status);
    // Refused (401, 403, 400, …): passed back as a plain answer, and the connection closes.
    const list: string[] = [];
    const raw = upstreamRes.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      if (!dropResponseHeader((raw[i] as string).toLowerCase())) list.push(raw[i] as string, raw[i + 1] as string);
    }
    route.finishHeaders(status, list);
    res.writeHead(status, list);
    upstreamRes.pipe(res);
    upstreamRes.once("end", () => release(OUTCOME_OK));
    upstreamRes.once("error", () => {
      release(OUTCOME_NEUTRAL);
      res.destroy();
    });
  });

  upstreamReq.once("error", (error) => {
    clearTimer();
    fail(error);
  });
  upstreamReq.end();
}
