/**
 * proxyWebsockets: a real `ws` server upstream and a real `ws` client through the gateway, on the
 * plain and the TLS listener: frames both ways (text, binary, large), closes with their codes in
 * both directions, refusals passed through, access hooks guarding the upgrade, the idle timeout.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import type { IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { type TestContext, test } from "node:test";
import { pino } from "pino";
import WebSocket, { WebSocketServer } from "ws";
import type { PorticoConfig } from "../../src/config/schema.js";
import { createGateway } from "../../src/gateway.js";
import { makeCertificate, tempDir } from "../helpers/certs.js";
import { closedPort, startEcho } from "../helpers/gateway.js";
import { captureLogs } from "../helpers/logs.js";

interface Upstream {
  origin: string;
  server: WebSocketServer;
  /** Each upgrade request the upstream accepted, with its socket. */
  connections: Array<{ req: IncomingMessage; socket: WebSocket }>;
  nextConnection(): Promise<{ req: IncomingMessage; socket: WebSocket }>;
}

/** A ws server that echoes every message back as it came (text stays text, binary stays binary). */
async function startWsUpstream(t: TestContext, options: ConstructorParameters<typeof WebSocketServer>[0] = {}): Promise<Upstream> {
  const server = new WebSocketServer({ host: "127.0.0.1", port: 0, ...options });
  await once(server, "listening");
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const client of server.clients) client.terminate();
        server.close(() => resolve());
      }),
  );
  const connections: Upstream["connections"] = [];
  server.on("connection", (socket, req) => {
    connections.push({ req, socket });
    socket.on("message", (data, isBinary) => socket.send(data, { binary: isBinary }));
  });
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    server,
    connections,
    nextConnection: async () => {
      const [socket, req] = (await once(server, "connection")) as [WebSocket, IncomingMessage];
      return { req, socket };
    },
  };
}

async function gateway(t: TestContext, config: PorticoConfig, logger = pino({ level: "silent" })) {
  const gw = await createGateway(config, { logger });
  t.after(() => gw.close());
  const addresses = await gw.listen();
  const plain = addresses.find((address) => !address.ssl);
  const tls = addresses.find((address) => address.ssl);
  return { gw, ws: plain ? plain.url.replace(/^http/, "ws") : "", wss: tls ? tls.url.replace(/^https/, "wss") : "" };
}

function connect(t: TestContext, url: string, options: WebSocket.ClientOptions = {}, protocol?: string): WebSocket {
  const client = protocol ? new WebSocket(url, protocol, options) : new WebSocket(url, options);
  // A refused upgrade also emits "error" when torn down; once(…) still sees errors that matter.
  client.on("error", () => undefined);
  t.after(() => client.terminate());
  return client;
}

async function opened(client: WebSocket): Promise<void> {
  await once(client, "open");
}

/** The status of a refused upgrade (ws emits "unexpected-response" with the HTTP answer). */
async function refusal(client: WebSocket): Promise<{ status: number; headers: IncomingMessage["headers"]; body: string }> {
  const [, res] = (await once(client, "unexpected-response")) as [unknown, IncomingMessage];
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() };
}

async function roundTrip(client: WebSocket, data: string | Buffer): Promise<{ data: Buffer; isBinary: boolean }> {
  const reply = once(client, "message") as Promise<[Buffer, boolean]>;
  client.send(data, { binary: Buffer.isBuffer(data) });
  const [received, isBinary] = await reply;
  return { data: received, isBinary };
}

test("frames flow both ways through the tunnel: text, binary and a large message", async (t) => {
  const upstream = await startWsUpstream(t);
  const { ws } = await gateway(t, {
    listen: "127.0.0.1:0",
    virtualHosts: { localhost: { locations: { "/socket/": { proxyPass: `${upstream.origin}/ws/`, proxyWebsockets: true, recommendedProxySettings: true } } } },
  });
  const client = connect(t, `${ws}/socket/chat?room=1`, {}, "chat.v1");
  const accepted = upstream.nextConnection();
  await opened(client);
  const { req } = await accepted;
  assert.equal(req.url, "/ws/chat?room=1");
  assert.equal(req.headers["x-forwarded-proto"], "http");
  assert.equal(req.headers["sec-websocket-protocol"], "chat.v1");
  // The 101's headers came through: the subprotocol the upstream chose.
  assert.equal(client.protocol, "chat.v1");

  const text = await roundTrip(client, "hello");
  assert.equal(text.isBinary, false);
  assert.equal(text.data.toString(), "hello");
  const bytes = Buffer.from([0, 1, 2, 255, 254]);
  const binary = await roundTrip(client, bytes);
  assert.equal(binary.isBinary, true);
  assert.deepEqual(binary.data, bytes);
  const large = Buffer.alloc(4 * 1024 * 1024);
  for (let i = 0; i < large.length; i++) large[i] = (i * 31) & 0xff;
  const echoed = await roundTrip(client, large);
  assert.equal(echoed.data.length, large.length);
  assert.ok(echoed.data.equals(large));
});

test("closes propagate with their codes: client → upstream and upstream → client", async (t) => {
  const upstream = await startWsUpstream(t);
  const { ws } = await gateway(t, {
    listen: "127.0.0.1:0",
    virtualHosts: { localhost: { locations: { "/": { proxyPass: upstream.origin, proxyWebsockets: true } } } },
  });

  const first = connect(t, `${ws}/one`);
  const firstUpstream = upstream.nextConnection();
  await opened(first);
  const { socket: upstreamOne } = await firstUpstream;
  const upstreamClosed = once(upstreamOne, "close") as Promise<[number, Buffer]>;
  first.close(4001, "client leaves");
  const [code, reason] = await upstreamClosed;
  assert.equal(code, 4001);
  assert.equal(reason.toString(), "client leaves");
  const [clientCode] = (await once(first, "close")) as [number];
  assert.equal(clientCode, 4001);

  const second = connect(t, `${ws}/two`);
  const secondUpstream = upstream.nextConnection();
  await opened(second);
  const { socket: upstreamTwo } = await secondUpstream;
  const clientClosed = once(second, "close") as Promise<[number, Buffer]>;
  upstreamTwo.close(4002, "server leaves");
  const [code2, reason2] = await clientClosed;
  assert.equal(code2, 4002);
  assert.equal(reason2.toString(), "server leaves");

  // An upstream that drops the TCP connection without a close frame: the client sees 1006.
  const third = connect(t, `${ws}/three`);
  const thirdUpstream = upstream.nextConnection();
  await opened(third);
  const { socket: upstreamThree } = await thirdUpstream;
  const abnormal = once(third, "close") as Promise<[number]>;
  upstreamThree.terminate();
  assert.equal((await abnormal)[0], 1006);
});

test("an upstream that refuses the upgrade: the client gets its status", async (t) => {
  const upstream = await startWsUpstream(t, {
    verifyClient: (_info: unknown, done: (ok: boolean, code?: number, message?: string) => void) => done(false, 403, "Forbidden"),
  } as never);
  const { ws } = await gateway(t, {
    listen: "127.0.0.1:0",
    virtualHosts: { localhost: { locations: { "/": { proxyPass: upstream.origin, proxyWebsockets: true } } } },
  });
  const answer = await refusal(connect(t, `${ws}/`));
  assert.equal(answer.status, 403);
  assert.equal(answer.headers.server, "portico");
});

test("a location without proxyWebsockets serves the upgrade as a plain request, Upgrade dropped", async (t) => {
  const echo = await startEcho(t);
  const { ws } = await gateway(t, {
    listen: "127.0.0.1:0",
    virtualHosts: { localhost: { locations: { "/": { proxyPass: echo.origin } } } },
  });
  const answer = await refusal(connect(t, `${ws}/anything/plain`));
  assert.equal(answer.status, 200);
  const seen = JSON.parse(answer.body) as { headers: Record<string, string> };
  assert.equal(seen.headers.upgrade, undefined);
  assert.equal(seen.headers["sec-websocket-key"] !== undefined, true, "end-to-end headers still go");
  assert.notEqual(seen.headers.connection, "Upgrade");
});

test("access hooks guard the upgrade: 401 without the key, the tunnel with it; rewrite changes the upstream path", async (t) => {
  const upstream = await startWsUpstream(t);
  const { ws } = await gateway(t, {
    listen: "127.0.0.1:0",
    virtualHosts: {
      localhost: {
        locations: {
          "/private": {
            proxyPass: upstream.origin,
            proxyWebsockets: true,
            rewrite: (ctx) => {
              ctx.request.path = "/rewritten";
            },
            access: (ctx) => (ctx.request.headers["x-api-key"] === "sesame" ? undefined : ctx.exit(401, { message: "Unauthorized" })),
          },
        },
      },
    },
  });
  const denied = await refusal(connect(t, `${ws}/private`));
  assert.equal(denied.status, 401);
  assert.deepEqual(JSON.parse(denied.body), { message: "Unauthorized" });
  assert.equal(upstream.connections.length, 0, "the upstream never saw the denied upgrade");

  const allowed = connect(t, `${ws}/private`, { headers: { "X-API-Key": "sesame" } });
  const accepted = upstream.nextConnection();
  await opened(allowed);
  assert.equal((await accepted).req.url, "/rewritten");
  assert.equal((await roundTrip(allowed, "in")).data.toString(), "in");
});

test("wss on the TLS listener, to a ws upstream", async (t) => {
  const dir = await tempDir(t);
  const cert = await makeCertificate(dir, ["ws.test"]);
  const upstream = await startWsUpstream(t);
  const { wss } = await gateway(t, {
    listen: [{ addr: "127.0.0.1", port: 0, ssl: true }],
    virtualHosts: {
      "ws.test": {
        onlySSL: true,
        sslCertificate: cert.certFile,
        sslCertificateKey: cert.keyFile,
        locations: { "/": { proxyPass: upstream.origin, proxyWebsockets: true, recommendedProxySettings: true } },
      },
    },
  });
  const client = connect(t, `${wss}/secure`, { ca: cert.cert, servername: "ws.test", headers: { Host: "ws.test" } } as WebSocket.ClientOptions);
  const accepted = upstream.nextConnection();
  await opened(client);
  assert.equal((await accepted).req.headers["x-forwarded-proto"], "https");
  assert.equal((await roundTrip(client, "over tls")).data.toString(), "over tls");
});

test("an unreachable upstream answers 502 and logs why; proxyReadTimeout closes an idle tunnel", async (t) => {
  const upstream = await startWsUpstream(t);
  const { logger, lines } = captureLogs();
  const { ws } = await gateway(
    t,
    {
      listen: "127.0.0.1:0",
      virtualHosts: {
        localhost: {
          locations: {
            "/down": { proxyPass: `http://127.0.0.1:${await closedPort()}`, proxyWebsockets: true },
            "/idle": { proxyPass: upstream.origin, proxyWebsockets: true, proxyReadTimeout: "1s" },
          },
        },
      },
    },
    logger,
  );
  const down = await refusal(connect(t, `${ws}/down`));
  assert.equal(down.status, 502);
  const requestId = (JSON.parse(down.body) as { requestId: string }).requestId;
  assert.ok(lines.some((line) => line.code === "PTC_ERR_UPSTREAM_UNAVAILABLE" && line.requestId === requestId && line.websocket === true));

  const idle = connect(t, `${ws}/idle`);
  const accepted = upstream.nextConnection();
  await opened(idle);
  const { socket: upstreamSide } = await accepted;
  // Traffic keeps it open; silence closes both sides, a whole proxyReadTimeout after the last
  // traffic (a lower bound: a slow machine only makes it later).
  const pingAt = performance.now();
  assert.equal((await roundTrip(idle, "ping")).data.toString(), "ping");
  const [clientCode] = (await once(idle, "close")) as [number];
  assert.equal(clientCode, 1006);
  const silence = performance.now() - pingAt;
  assert.ok(silence >= 990, `closed ${silence.toFixed(0)} ms after the ping, before proxyReadTimeout`);
  if (upstreamSide.readyState !== WebSocket.CLOSED) await once(upstreamSide, "close");
});
