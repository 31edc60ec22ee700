/**
 * Headers across the proxy: hop-by-hop fields dropped both ways (RFC 9110 7.6.1), proxySetHeader
 * with constants, variables and "" (nginx proxy_set_header), NixOS recommendedProxySettings, and
 * addHeader on 2xx/3xx unless "always" (nginx add_header).
 */
import assert from "node:assert/strict";
import { hostname } from "node:os";
import { test } from "node:test";
import type { EchoRecord } from "../fixtures/echo-upstream.js";
import { request, singleHost, startEcho, startGateway } from "../helpers/gateway.js";
import { rawExchange } from "../helpers/raw-http.js";

function lastSeen(seen: EchoRecord[]): EchoRecord {
  const record = seen.at(-1);
  assert.ok(record, "the upstream saw no request");
  return record;
}

function headerNames(rawHeaders: string[]): string[] {
  return rawHeaders.filter((_, i) => i % 2 === 0).map((name) => name.toLowerCase());
}

const HOP_BY_HOP_REQUEST = ["keep-alive", "te", "trailer", "upgrade", "proxy-connection", "proxy-authorization", "x-foo", "x-bar"];

test("hop-by-hop request headers and those named in Connection are not forwarded; end-to-end ones are", async (t) => {
  const up = await startEcho(t);
  const { port } = await startGateway(t, singleHost({ "/": { proxyPass: up.origin } }));
  // Raw bytes: node:http refuses to send Trailer without a chunked body.
  const head = [
    "GET /anything HTTP/1.1",
    "Host: localhost",
    "Connection: keep-alive, X-Foo",
    "Connection: x-bar",
    "X-Foo: secret",
    "X-Bar: secret too",
    "Keep-Alive: timeout=5",
    "TE: trailers",
    "Trailer: X-Checksum",
    "Upgrade: websocket",
    "Proxy-Connection: keep-alive",
    "Proxy-Authorization: Basic Zm9vOmJhcg==",
    "Authorization: Bearer end-to-end",
    "X-End: kept",
    "Accept-Encoding: gzip",
  ];
  const res = await rawExchange(port, `${head.join("\r\n")}\r\n\r\n`, { untilResponse: true });
  assert.equal(res.status, 200);
  const seen = lastSeen(up.seen);
  const names = headerNames(seen.rawHeaders);
  for (const name of HOP_BY_HOP_REQUEST) assert.ok(!names.includes(name), `${name} is not forwarded (got ${names.join(", ")})`);
  assert.doesNotMatch(String(seen.headers.connection ?? ""), /x-foo|x-bar/i, "the client's Connection is not forwarded");
  assert.equal(seen.headers.authorization, "Bearer end-to-end");
  assert.equal(seen.headers["x-end"], "kept");
  assert.equal(seen.headers["accept-encoding"], "gzip");
});

test("a WebSocket handshake to a plain proxy location goes upstream as a plain GET, without Upgrade", async (t) => {
  const up = await startEcho(t);
  const { port } = await startGateway(t, singleHost({ "/": { proxyPass: up.origin } }));
  // nginx forwards Upgrade only when proxy_set_header asks for it; without that it is a normal request.
  const res = await rawExchange(
    port,
    "GET /ws HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    { untilResponse: true },
  );
  assert.equal(res.status, 200);
  const seen = lastSeen(up.seen);
  assert.equal(seen.path, "/ws");
  assert.equal(seen.headers.upgrade, undefined);
  assert.equal(seen.headers["sec-websocket-key"], "dGhlIHNhbXBsZSBub25jZQ==");
});

test("hop-by-hop response headers and those named in the upstream's Connection are not passed back", async (t) => {
  const up = await startEcho(t);
  const { url } = await startGateway(t, singleHost({ "/": { proxyPass: up.origin } }));
  const query = new URLSearchParams([
    ["Connection", "X-Secret"],
    ["Connection", "x-other"],
    ["X-Secret", "internal"],
    ["X-Other", "internal too"],
    ["Keep-Alive", "timeout=1, max=2"],
    ["Proxy-Authenticate", "Basic realm=up"],
    ["Upgrade", "h2c"],
    ["Proxy-Connection", "keep-alive"],
    ["X-End", "kept"],
    ["Vary", "Accept"],
  ]);
  const res = await request(`${url}/headers?${query}`);
  assert.equal(res.status, 200);
  assert.equal(res.text, "ok");
  const names = headerNames(res.rawHeaders);
  for (const name of ["x-secret", "x-other", "proxy-authenticate", "upgrade", "proxy-connection"])
    assert.ok(!names.includes(name), `${name} is not passed back`);
  assert.notEqual(res.headers["keep-alive"], "timeout=1, max=2", "Keep-Alive is the gateway's own, if any");
  assert.notEqual(res.headers.connection, "X-Secret");
  assert.equal(res.headers["x-end"], "kept");
  assert.equal(res.headers.vary, "Accept");
});

test('proxySetHeader: constants, $host, $remote_addr, $request_uri, $http_x_foo, and "" removes', async (t) => {
  const up = await startEcho(t);
  const { url } = await startGateway(
    t,
    singleHost({
      "/": {
        proxyPass: up.origin,
        proxySetHeader: {
          "X-Const": "fixed",
          "X-Host": "$host",
          "X-Addr": "$remote_addr",
          "X-Uri": "$request_uri",
          "X-Foo-Copy": "[$http_x_foo]",
          "X-Missing": "$http_x_not_sent",
          "User-Agent": "",
          // biome-ignore lint/suspicious/noTemplateCurlyInString: nginx's ${name} form, not a JS template
          "X-Mixed": "${host}-$remote_addr-v1",
        },
      },
    }),
  );
  const res = await request(`${url}/anything/a%20b?q=1`, {
    headers: { Host: "App.Example:8443", "X-Foo": "bar", "X-Const": "from client", "User-Agent": "curl/8" },
  });
  assert.equal(res.status, 200);
  const seen = lastSeen(up.seen);
  const names = headerNames(seen.rawHeaders);
  assert.equal(seen.headers["x-const"], "fixed", "the client's copy of a set header is replaced, not added to");
  assert.equal(names.filter((name) => name === "x-const").length, 1);
  assert.equal(seen.headers["x-host"], "app.example", "$host: lower-case, without the port");
  assert.equal(seen.headers["x-addr"], "127.0.0.1");
  assert.equal(seen.headers["x-uri"], "/anything/a%20b?q=1", "$request_uri is the raw request target");
  assert.equal(seen.headers["x-foo-copy"], "[bar]");
  assert.equal(seen.headers["x-foo"], "bar", "the header a variable reads is still forwarded");
  assert.equal(seen.headers["x-mixed"], "app.example-127.0.0.1-v1");
  assert.ok(!names.includes("x-missing"), "a value that renders empty is not sent");
  assert.ok(!names.includes("user-agent"), '"" removes the client\'s header');
  assert.equal(seen.headers.host, `127.0.0.1:${up.port}`, "Host stays $proxy_host unless set");
});

test('proxySetHeader Host: "$host" sends the client\'s host; Host: "" falls back to $proxy_host', async (t) => {
  const up = await startEcho(t);
  const { url } = await startGateway(
    t,
    singleHost({
      "/set/": { proxyPass: `${up.origin}/`, proxySetHeader: { Host: "$host" } },
      "/empty/": { proxyPass: `${up.origin}/`, proxySetHeader: { Host: "" } },
      "/http-host/": { proxyPass: `${up.origin}/`, proxySetHeader: { Host: "$http_host" } },
    }),
  );
  await request(`${url}/set/x`, { headers: { Host: "api.example.com:9000" } });
  assert.equal(lastSeen(up.seen).headers.host, "api.example.com");
  await request(`${url}/http-host/x`, { headers: { Host: "api.example.com:9000" } });
  assert.equal(lastSeen(up.seen).headers.host, "api.example.com:9000");
  await request(`${url}/empty/x`, { headers: { Host: "api.example.com" } });
  const seen = lastSeen(up.seen);
  assert.equal(seen.headers.host, `127.0.0.1:${up.port}`);
  assert.equal(headerNames(seen.rawHeaders).filter((name) => name === "host").length, 1);
});

test("recommendedProxySettings: Host, X-Real-IP, X-Forwarded-For appended, -Proto, -Host, -Server", async (t) => {
  const up = await startEcho(t);
  const { url } = await startGateway(
    t,
    singleHost({
      "/": { proxyPass: up.origin, recommendedProxySettings: true },
      "/override/": { proxyPass: `${up.origin}/`, recommendedProxySettings: true, proxySetHeader: { "X-Forwarded-Proto": "https" } },
    }),
  );
  await request(`${url}/anything`, { headers: { Host: "Shop.Example:8080", "X-Forwarded-For": "203.0.113.7, 198.51.100.2" } });
  let seen = lastSeen(up.seen);
  assert.equal(seen.headers.host, "shop.example");
  assert.equal(seen.headers["x-real-ip"], "127.0.0.1");
  assert.equal(seen.headers["x-forwarded-for"], "203.0.113.7, 198.51.100.2, 127.0.0.1");
  assert.equal(headerNames(seen.rawHeaders).filter((name) => name === "x-forwarded-for").length, 1);
  assert.equal(seen.headers["x-forwarded-proto"], "http");
  assert.equal(seen.headers["x-forwarded-host"], "shop.example");
  assert.equal(seen.headers["x-forwarded-server"], hostname());

  await request(`${url}/anything`);
  seen = lastSeen(up.seen);
  assert.equal(seen.headers["x-forwarded-for"], "127.0.0.1", "without a previous X-Forwarded-For it is the client address alone");
  assert.equal(seen.headers.host, "127.0.0.1");

  await request(`${url}/override/anything`);
  seen = lastSeen(up.seen);
  assert.equal(seen.headers["x-forwarded-proto"], "https", "proxySetHeader wins over the recommended value");
  assert.equal(headerNames(seen.rawHeaders).filter((name) => name === "x-forwarded-proto").length, 1);
});

test('addHeader is added to 2xx/3xx answers and to any status with " always"', async (t) => {
  const up = await startEcho(t);
  const { url } = await startGateway(
    t,
    singleHost({
      "/": {
        proxyPass: up.origin,
        addHeader: { "X-Frame-Options": "DENY", "Strict-Transport-Security": "max-age=63072000 always" },
      },
    }),
  );
  const ok = await request(`${url}/status/200`);
  assert.equal(ok.headers["x-frame-options"], "DENY");
  assert.equal(ok.headers["strict-transport-security"], "max-age=63072000");
  const notModified = await request(`${url}/etag`, { headers: { "If-None-Match": '"v1"' } });
  assert.equal(notModified.status, 304);
  assert.equal(notModified.headers["x-frame-options"], "DENY");
  for (const status of [404, 500]) {
    const res = await request(`${url}/status/${status}`);
    assert.equal(res.status, status);
    assert.equal(res.headers["x-frame-options"], undefined, `not on ${status}`);
    assert.equal(res.headers["strict-transport-security"], "max-age=63072000", `"always" on ${status}`);
  }
});
