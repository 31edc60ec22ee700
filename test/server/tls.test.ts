/**
 * TLS listeners: certificates per virtual host chosen by SNI, forceSSL redirects from the plain
 * listener, HTTP/2 by ALPN beside HTTP/1.1 on one port, no connection-specific headers on h2,
 * $scheme/X-Forwarded-Proto saying https, and a reload that swaps certificates on an open port.
 */
import assert from "node:assert/strict";
import { copyFile, writeFile } from "node:fs/promises";
import { type ClientHttp2Session, connect as http2Connect, type IncomingHttpHeaders } from "node:http2";
import { request as httpsRequest } from "node:https";
import path from "node:path";
import { type TestContext, test } from "node:test";
import { connect as tlsConnect } from "node:tls";
import { pino } from "pino";
import type { PorticoConfig } from "../../src/config/schema.js";
import { ConfigError, createGateway, type Gateway } from "../../src/gateway.js";
import { makeCertificate, type TestCertificate, tempDir } from "../helpers/certs.js";
import { request, startEcho } from "../helpers/gateway.js";

interface Setup {
  gw: Gateway;
  https: { port: number; url: string };
  http: { port: number; url: string };
  a: TestCertificate;
  b: TestCertificate;
}

async function listening(t: TestContext, config: PorticoConfig | string): Promise<Gateway> {
  const gw = await createGateway(config, { logger: pino({ level: "silent" }) });
  t.after(() => gw.close());
  await gw.listen();
  return gw;
}

function split(gw: Gateway): Setup["https"][] {
  const addresses = gw.addresses();
  const tls = addresses.find((address) => address.ssl);
  const plain = addresses.find((address) => !address.ssl);
  return [tls, plain].map((address) => ({ port: address?.port ?? 0, url: address?.url ?? "" }));
}

async function setup(t: TestContext, extra: { upstream?: string } = {}): Promise<Setup> {
  const dir = await tempDir(t);
  const a = await makeCertificate(dir, ["a.test", "*.a.test"]);
  const b = await makeCertificate(dir, ["b.test"]);
  const upstream = extra.upstream ?? "http://127.0.0.1:9";
  const gw = await listening(t, {
    listen: [
      { addr: "127.0.0.1", port: 0, ssl: true },
      { addr: "127.0.0.1", port: 0 },
    ],
    virtualHosts: {
      "a.test": {
        default: true,
        serverAliases: ["*.a.test"],
        forceSSL: true,
        sslCertificate: a.certFile,
        sslCertificateKey: a.keyFile,
        locations: {
          "/": { return: "200 'a $scheme $https'" },
          "/up/": { proxyPass: `${upstream}/`, recommendedProxySettings: true },
          "/filtered/": {
            proxyPass: `${upstream}/`,
            headerFilter: (ctx) => {
              ctx.response.headers.connection = "close";
              ctx.response.headers["keep-alive"] = "timeout=5";
            },
          },
        },
      },
      "b.test": { onlySSL: true, sslCertificate: b.certFile, sslCertificateKey: b.keyFile, locations: { "/": { return: "200 'b $scheme'" } } },
      "plain.test": { locations: { "/": { return: "200 'plain $scheme $https.'" } } },
    },
  });
  const [https, http] = split(gw) as [Setup["https"], Setup["http"]];
  return { gw, https, http, a, b };
}

/** The certificate the server presents for `servername` (undefined: no SNI). */
function peerFingerprint(port: number, servername: string | undefined): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: "127.0.0.1", port, rejectUnauthorized: false, ...(servername ? { servername } : {}) }, () => {
      const fingerprint = socket.getPeerCertificate().fingerprint256;
      socket.end();
      resolve(fingerprint);
    });
    socket.on("error", reject);
  });
}

function h2Session(t: TestContext, port: number, servername: string, ca: string): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = http2Connect(`https://127.0.0.1:${port}`, { ca, servername });
    t.after(() => session.destroy());
    session.once("connect", () => resolve(session));
    session.once("error", reject);
  });
}

function h2Get(session: ClientHttp2Session, path: string, authority: string): Promise<{ headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ":path": path, ":authority": authority });
    let headers: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on("response", (h) => {
      headers = h;
    });
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("end", () => resolve({ headers, body: Buffer.concat(chunks).toString() }));
    stream.on("error", reject);
    stream.end();
  });
}

function httpsGet(port: number, servername: string, ca: string, path: string): Promise<{ status: number; body: string; alpn: string | false | null }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: "127.0.0.1", port, servername, ca, path, headers: { host: servername }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), alpn: (res.socket as import("node:tls").TLSSocket).alpnProtocol }),
      );
    });
    req.on("error", reject);
    req.end();
  });
}

test("schema: listen takes ssl; TLS virtual hosts need a certificate, one mode, and a TLS listener", async (t) => {
  const dir = await tempDir(t);
  const a = await makeCertificate(dir, ["a.test"]);
  const b = await makeCertificate(dir, ["b.test"]);
  const invalid = async (config: PorticoConfig, pattern: RegExp) => {
    const error = await createGateway(config, { logger: pino({ level: "silent" }) }).then(
      (gw) => gw.close().then(() => null),
      (err: unknown) => err,
    );
    assert.ok(error instanceof ConfigError, "expected a ConfigError");
    assert.match(error.message, pattern);
    return error;
  };
  const tlsListen = [{ addr: "127.0.0.1", port: 0, ssl: true }];
  const locations = { "/": { return: 200 } };
  await invalid({ listen: tlsListen, virtualHosts: { x: { forceSSL: true, locations } } }, /forceSSL needs sslCertificate and sslCertificateKey/);
  await invalid(
    { listen: tlsListen, virtualHosts: { x: { onlySSL: true, addSSL: true, sslCertificate: a.certFile, sslCertificateKey: a.keyFile, locations } } },
    /onlySSL and addSSL exclude each other/,
  );
  await invalid(
    { listen: "127.0.0.1:0", virtualHosts: { x: { addSSL: true, sslCertificate: a.certFile, sslCertificateKey: a.keyFile, locations } } },
    /no TLS listener serves it/,
  );
  await invalid({ listen: tlsListen, virtualHosts: { x: { locations } } }, /this TLS listener has no virtual host to serve/);
  await invalid(
    { listen: ["127.0.0.1:0", ...tlsListen], virtualHosts: { x: { onlySSL: true, sslCertificate: a.certFile, sslCertificateKey: a.keyFile, locations } } },
    /this plain listener has no virtual host to serve/,
  );
  await invalid(
    { listen: tlsListen, virtualHosts: { x: { onlySSL: true, sslCertificate: path.join(dir, "missing.crt"), sslCertificateKey: a.keyFile, locations } } },
    /cannot read .*missing\.crt: ENOENT/,
  );
  // A key that does not belong to the certificate: refused, and the message carries no key material.
  const mismatch = await invalid(
    { listen: tlsListen, virtualHosts: { x: { onlySSL: true, sslCertificate: a.certFile, sslCertificateKey: b.keyFile, locations } } },
    /sslCertificateKey.*do not load together/s,
  );
  assert.ok(!mismatch.message.includes("PRIVATE KEY"));
  assert.ok(!mismatch.message.includes(b.key.split("\n")[1] as string));
  await invalid({ listen: { addr: "127.0.0.1", port: 0, ssl: "yes" } as never, virtualHosts: { x: { locations } } }, /listen/);
  await invalid({ sslProtocols: ["TLSv1"] as never, virtualHosts: { x: { locations } } }, /sslProtocols/);
});

test("SNI picks each virtual host's certificate; wildcard names and clients without SNI get theirs", async (t) => {
  const { https, a, b } = await setup(t);
  assert.equal(await peerFingerprint(https.port, "a.test"), a.fingerprint256);
  assert.equal(await peerFingerprint(https.port, "b.test"), b.fingerprint256);
  assert.equal(await peerFingerprint(https.port, "www.a.test"), a.fingerprint256);
  // Unknown name, and no SNI at all: the default TLS virtual host's certificate.
  assert.equal(await peerFingerprint(https.port, "unknown.test"), a.fingerprint256);
  assert.equal(await peerFingerprint(https.port, undefined), a.fingerprint256);
  // Verified against each certificate as its own CA: the chain and the name match.
  assert.equal((await httpsGet(https.port, "b.test", b.cert, "/")).body, "b https");
  assert.equal((await httpsGet(https.port, "a.test", a.cert, "/")).body, "a https on");
});

test("TLS 1.0 and 1.1 are refused by default", async (t) => {
  const { https } = await setup(t);
  await assert.rejects(
    new Promise((resolve, reject) => {
      const socket = tlsConnect(
        { host: "127.0.0.1", port: https.port, servername: "a.test", rejectUnauthorized: false, maxVersion: "TLSv1.1", minVersion: "TLSv1" },
        () => resolve(socket.end()),
      );
      socket.on("error", reject);
    }),
  );
});

test("forceSSL: the plain listener answers 301 to https://$host$request_uri; other hosts are served there", async (t) => {
  const { http } = await setup(t);
  const redirected = await request(`${http.url}/some/path?x=1&y=2`, { headers: { Host: "a.test:8080" } });
  assert.equal(redirected.status, 301);
  assert.equal(redirected.headers.location, "https://a.test/some/path?x=1&y=2");
  const wildcard = await request(`${http.url}/`, { headers: { Host: "www.a.test" } });
  assert.equal(wildcard.headers.location, "https://www.a.test/");
  const plain = await request(`${http.url}/`, { headers: { Host: "plain.test" } });
  assert.equal(plain.status, 200);
  assert.equal(plain.text, "plain http .");
});

test("HTTP/2 by ALPN and HTTP/1.1 on the same port; https in $scheme and X-Forwarded-Proto; no hop-by-hop headers on h2", async (t) => {
  const echo = await startEcho(t);
  const { https, a, b } = await setup(t, { upstream: echo.origin });
  const session = await h2Session(t, https.port, "a.test", a.cert);
  assert.equal((session.socket as import("node:tls").TLSSocket).alpnProtocol, "h2");

  const returned = await h2Get(session, "/", "a.test");
  assert.equal(returned.headers[":status"], 200);
  assert.equal(returned.body, "a https on");

  // Routing by :authority: this h2 stream names b.test (its certificate is not checked here, the connection's is a.test's).
  const other = await h2Get(session, "/", "b.test");
  assert.equal(other.body, "b https");

  const proxied = await h2Get(session, "/up/anything/x?q=1", "a.test");
  assert.equal(proxied.headers[":status"], 200);
  const seen = JSON.parse(proxied.body) as { headers: Record<string, string>; url: string };
  assert.equal(seen.url, "/anything/x?q=1");
  assert.equal(seen.headers["x-forwarded-proto"], "https");
  assert.equal(seen.headers.host, "a.test");
  for (const name of Object.keys(seen.headers)) assert.ok(!name.startsWith(":"), `pseudo-header ${name} went upstream`);

  // The upstream answers chunked with Connection/Keep-Alive: none of it reaches the h2 client.
  const streamed = await h2Get(session, "/up/stream-bytes/5000", "a.test");
  assert.equal(streamed.headers[":status"], 200);
  assert.equal(streamed.body.length, 5000);
  for (const name of ["connection", "keep-alive", "transfer-encoding", "upgrade"]) assert.equal(streamed.headers[name], undefined, name);
  // A headerFilter that sets them anyway: dropped on h2 rather than failing the response.
  const filtered = await h2Get(session, "/filtered/anything", "a.test");
  assert.equal(filtered.headers[":status"], 200);
  assert.equal(filtered.headers.connection, undefined);
  assert.equal(filtered.headers["keep-alive"], undefined);

  // HTTP/1.1 on the same port (a client that offers no ALPN).
  const h1 = await httpsGet(https.port, "b.test", b.cert, "/");
  assert.equal(h1.status, 200);
  assert.equal(h1.body, "b https");
  assert.notEqual(h1.alpn, "h2");
  const h1Proxied = await httpsGet(https.port, "a.test", a.cert, "/up/anything");
  assert.equal((JSON.parse(h1Proxied.body) as { headers: Record<string, string> }).headers["x-forwarded-proto"], "https");
});

test("http2: false on every TLS virtual host: the listener offers HTTP/1.1 only", async (t) => {
  const dir = await tempDir(t);
  const a = await makeCertificate(dir, ["a.test"]);
  const gw = await listening(t, {
    listen: { addr: "127.0.0.1", port: 0, ssl: true },
    virtualHosts: {
      "a.test": { onlySSL: true, http2: false, sslCertificate: a.certFile, sslCertificateKey: a.keyFile, locations: { "/": { return: "200 'one'" } } },
    },
  });
  const [address] = gw.addresses();
  assert.ok(address?.url.startsWith("https://"));
  const alpn = await new Promise<string | false | null>((resolve, reject) => {
    const socket = tlsConnect({ host: "127.0.0.1", port: address?.port ?? 0, servername: "a.test", ca: a.cert, ALPNProtocols: ["h2", "http/1.1"] }, () => {
      resolve(socket.alpnProtocol);
      socket.end();
    });
    socket.on("error", reject);
  });
  assert.equal(alpn, "http/1.1");
  assert.equal((await httpsGet(address?.port ?? 0, "a.test", a.cert, "/")).body, "one");
});

test("a reload swaps certificates without closing the listener or its open connections", async (t) => {
  const dir = await tempDir(t);
  const first = await makeCertificate(dir, ["a.test"]);
  const second = await makeCertificate(dir, ["a.test"]);
  const certFile = path.join(dir, "live.crt");
  const keyFile = path.join(dir, "live.key");
  await copyFile(first.certFile, certFile);
  await copyFile(first.keyFile, keyFile);
  const configFile = path.join(dir, "portico.yaml");
  const yaml = (text: string) => `listen:
  - { addr: 127.0.0.1, port: 0, ssl: true }
virtualHosts:
  a.test:
    onlySSL: true
    sslCertificate: ./live.crt
    sslCertificateKey: ./live.key
    locations:
      /:
        return: "200 '${text}'"
`;
  await writeFile(configFile, yaml("before"));
  const gw = await listening(t, configFile);
  const [before] = gw.addresses();
  const port = before?.port ?? 0;
  assert.equal(await peerFingerprint(port, "a.test"), first.fingerprint256);
  assert.equal(await peerFingerprint(port, undefined), first.fingerprint256);
  assert.ok(gw.table.files.has(certFile) && gw.table.files.has(keyFile), "the certificate files are reload triggers");
  const session = await h2Session(t, port, "a.test", first.cert);
  assert.equal((await h2Get(session, "/", "a.test")).body, "before");

  await copyFile(second.certFile, certFile);
  await copyFile(second.keyFile, keyFile);
  await writeFile(configFile, yaml("after"));
  await gw.reload();

  assert.deepEqual(
    gw.addresses().map((address) => address.port),
    [port],
  );
  assert.equal(await peerFingerprint(port, "a.test"), second.fingerprint256);
  assert.equal(await peerFingerprint(port, undefined), second.fingerprint256);
  // The h2 connection opened before the reload still serves, now with the new config.
  assert.equal((await h2Get(session, "/", "a.test")).body, "after");
});
