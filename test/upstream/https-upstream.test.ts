/**
 * proxyPass https://: the upstream's certificate is verified by default (a self-signed one is
 * refused: 502 and a log line), trusted with proxySslTrustedCertificate, or not checked with
 * proxySslVerify: false; proxySslServerName sets the SNI name and the name checked;
 * proxySslCertificate/Key present a client certificate; WebSockets go to wss:// upstreams too.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer as createHttpsServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { type TestContext, test } from "node:test";
import type { TLSSocket } from "node:tls";
import WebSocket, { WebSocketServer } from "ws";
import type { PorticoConfig } from "../../src/config/schema.js";
import { makeCertificate, type TestCertificate, tempDir } from "../helpers/certs.js";
import { errorBody, request, singleHost, startGateway } from "../helpers/gateway.js";
import { captureLogs } from "../helpers/logs.js";

interface HttpsUpstream {
  server: Server;
  origin: string;
  cert: TestCertificate;
  client: TestCertificate;
}

/** An https upstream with a self-signed certificate for upstream.test and 127.0.0.1; it reports the SNI name and any client certificate. */
async function startHttpsUpstream(t: TestContext): Promise<HttpsUpstream> {
  const dir = await tempDir(t);
  const cert = await makeCertificate(dir, ["upstream.test"]);
  const client = await makeCertificate(dir, ["gateway-client"]);
  const server = createHttpsServer({ cert: cert.cert, key: cert.key, requestCert: true, rejectUnauthorized: false, ca: client.cert }, (req, res) => {
    const socket = req.socket as TLSSocket;
    const peer = socket.getPeerCertificate();
    const body = JSON.stringify({ url: req.url, servername: socket.servername, clientCN: peer?.subject?.CN ?? null, authorized: socket.authorized });
    res.writeHead(200, { "content-type": "application/json" });
    res.end(body);
  });
  const wss = new WebSocketServer({ server });
  wss.on("connection", (socket) => socket.on("message", (data, isBinary) => socket.send(data, { binary: isBinary })));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of wss.clients) socket.terminate();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { server, origin: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, cert, client };
}

async function get(t: TestContext, location: NonNullable<PorticoConfig["virtualHosts"][string]["locations"]>[string], logs = captureLogs()) {
  const { url } = await startGateway(t, singleHost({ "/": location }), { logger: logs.logger });
  return { result: await request(`${url}/path?q=1`), lines: logs.lines };
}

test("a self-signed upstream is refused by default: 502, and a log line that says why", async (t) => {
  const upstream = await startHttpsUpstream(t);
  const { result, lines } = await get(t, { proxyPass: upstream.origin });
  assert.equal(result.status, 502);
  const { requestId } = errorBody(result);
  const line = lines.find((entry) => entry.requestId === requestId);
  assert.equal(line?.code, "PTC_ERR_UPSTREAM_TLS");
  assert.match(String((line?.err as { code?: string } | undefined)?.code), /SELF_SIGNED|UNABLE_TO_VERIFY/);
});

test("accepted with its CA in proxySslTrustedCertificate; SNI defaults to the host, proxySslServerName sets and checks it", async (t) => {
  const upstream = await startHttpsUpstream(t);
  const trusted = await get(t, { proxyPass: upstream.origin, proxySslTrustedCertificate: upstream.cert.certFile });
  assert.equal(trusted.result.status, 200);
  const body = JSON.parse(trusted.result.text) as { url: string; servername: string | false };
  assert.equal(body.url, "/path?q=1");
  // An IP address is never sent as SNI (RFC 6066 3).
  assert.equal(body.servername, false);

  const named = await get(t, { proxyPass: upstream.origin, proxySslTrustedCertificate: upstream.cert.certFile, proxySslServerName: "upstream.test" });
  assert.equal(named.result.status, 200);
  assert.equal((JSON.parse(named.result.text) as { servername: string }).servername, "upstream.test");

  // The name is checked against the certificate: a name it does not carry fails.
  const wrong = await get(t, { proxyPass: upstream.origin, proxySslTrustedCertificate: upstream.cert.certFile, proxySslServerName: "other.test" });
  assert.equal(wrong.result.status, 502);
  assert.ok(wrong.lines.some((line) => line.code === "PTC_ERR_UPSTREAM_TLS"));
});

test("accepted without verification when proxySslVerify is false (set at the top, inherited)", async (t) => {
  const upstream = await startHttpsUpstream(t);
  const { url } = await startGateway(t, singleHost({ "/": { proxyPass: upstream.origin } }, { proxySslVerify: false }));
  const result = await request(`${url}/x`);
  assert.equal(result.status, 200);
  assert.equal((JSON.parse(result.text) as { url: string }).url, "/x");
});

test("proxySslCertificate and proxySslCertificateKey present a client certificate (mutual TLS)", async (t) => {
  const upstream = await startHttpsUpstream(t);
  const without = await get(t, { proxyPass: upstream.origin, proxySslVerify: false });
  assert.equal((JSON.parse(without.result.text) as { clientCN: string | null }).clientCN, null);
  const withCert = await get(t, {
    proxyPass: upstream.origin,
    proxySslVerify: false,
    proxySslCertificate: upstream.client.certFile,
    proxySslCertificateKey: upstream.client.keyFile,
  });
  const body = JSON.parse(withCert.result.text) as { clientCN: string; authorized: boolean };
  assert.equal(body.clientCN, "gateway-client");
  assert.equal(body.authorized, true);
});

test("a missing CA file is a config error naming the field", async (t) => {
  const dir = await tempDir(t);
  await assert.rejects(
    startGateway(t, singleHost({ "/": { proxyPass: "https://127.0.0.1:9", proxySslTrustedCertificate: `${dir}/none.pem` } })),
    /proxySslTrustedCertificate.*cannot read .*none\.pem: ENOENT/s,
  );
  await assert.rejects(
    startGateway(t, singleHost({ "/": { proxyPass: "https://127.0.0.1:9", proxySslCertificate: `${dir}/none.pem` } })),
    /proxySslCertificate/,
  );
});

test("WebSockets to a wss:// upstream use the same TLS settings", async (t) => {
  const upstream = await startHttpsUpstream(t);
  const { url } = await startGateway(
    t,
    singleHost({
      "/refused": { proxyPass: upstream.origin, proxyWebsockets: true },
      "/trusted": { proxyPass: upstream.origin, proxyWebsockets: true, proxySslTrustedCertificate: upstream.cert.certFile },
    }),
  );
  const refused = new WebSocket(`${url.replace(/^http/, "ws")}/refused`);
  t.after(() => refused.terminate());
  refused.on("error", () => undefined);
  const [, res] = (await once(refused, "unexpected-response")) as [unknown, { statusCode: number }];
  assert.equal(res.statusCode, 502);

  const client = new WebSocket(`${url.replace(/^http/, "ws")}/trusted`);
  t.after(() => client.terminate());
  await once(client, "open");
  const reply = once(client, "message") as Promise<[Buffer]>;
  client.send("through tls");
  assert.equal((await reply)[0].toString(), "through tls");
});
