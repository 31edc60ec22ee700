/**
 * proxyPass as an nginx user knows it: the URI sent upstream (with and without a URI part,
 * exact locations, percent-encoding), Host, status and headers passed through, Server and Date
 * of our own, keep-alive from the client, and inject() through a real upstream.
 */
import assert from "node:assert/strict";
import { Agent } from "node:http";
import { test } from "node:test";
import { pino } from "pino";
import { createGateway } from "../../src/gateway.js";
import type { EchoRecord } from "../fixtures/echo-upstream.js";
import { request, singleHost, startEcho, startGateway } from "../helpers/gateway.js";
import { rawExchange } from "../helpers/raw-http.js";

const HTTP_DATE = /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/;

function lastSeen(seen: EchoRecord[]): EchoRecord {
  const record = seen.at(-1);
  assert.ok(record, "the upstream saw no request");
  return record;
}

test("location /proxy + proxyPass http://host:port/ sends //rest with Host $proxy_host and the query byte for byte", async (t) => {
  const up = await startEcho(t);
  const { url } = await startGateway(t, singleHost({ "/proxy": { proxyPass: `${up.origin}/` } }));

  const res = await request(`${url}/proxy/anything/hello/world?a=1&b=%20x&c`);
  assert.equal(res.status, 200);
  const seen = lastSeen(up.seen);
  // nginx replaces the matched prefix "/proxy" by "/": "/proxy/anything" becomes "//anything".
  assert.equal(seen.url, "//anything/hello/world?a=1&b=%20x&c");
  assert.equal(seen.headers.host, `127.0.0.1:${up.port}`);
  assert.equal(JSON.parse(res.text).url, "//anything/hello/world?a=1&b=%20x&c", "the upstream's body comes back as it was");

  await request(`${url}/proxy`);
  assert.equal(lastSeen(up.seen).url, "/", "the bare prefix becomes the URI part");
});

test("proxyPass without a URI part passes the request URI exactly as the client sent it", async (t) => {
  const up = await startEcho(t);
  const { url } = await startGateway(t, singleHost({ "/p/": { proxyPass: up.origin } }));
  for (const target of ["/p/a%2Fb%20c?x=%41", "/p/./x//y/../z?q=%2F", "/p/%7e~%C3%A9", "/p/plain?"]) {
    const res = await request(url, { path: target });
    assert.equal(res.status, 200, target);
    assert.equal(lastSeen(up.seen).url, target, `${target} is passed untouched`);
  }
});

test("proxyPass with a URI part passes the normalised path, re-escaped as nginx does", async (t) => {
  const up = await startEcho(t);
  const { url } = await startGateway(t, singleHost({ "/q/": { proxyPass: `${up.origin}/up/` } }));
  const cases: Array<[string, string]> = [
    // %XX decoded once, "/" stays a separator; only what NGX_ESCAPE_URI escapes comes back escaped.
    ["/q/a%2Fb%20c?x=%41", "/up/a/b%20c?x=%41"],
    ["/q/%41%7E-%2e", "/up/A~-."],
    ["/q/a%3Fb%23c%25d", "/up/a%3Fb%23c%25d"],
    ["/q/%C3%A9t%C3%A9", "/up/%C3%A9t%C3%A9"],
    // Bytes that are not UTF-8 go upstream as they came, as with nginx (which never decodes UTF-8).
    ["/q/%E9t%FF", "/up/%E9t%FF"],
    // Without a "%" in the path nginx sends the normalised bytes as they are.
    ["/q/x//y/./z/../w?k=v", "/up/x/y/w?k=v"],
    ["/q/a+b", "/up/a+b"],
  ];
  for (const [target, expected] of cases) {
    const res = await request(url, { path: target });
    assert.equal(res.status, 200, target);
    assert.equal(lastSeen(up.seen).url, expected, target);
  }
});

test("location = /exact with a URI part replaces the whole path", async (t) => {
  const up = await startEcho(t);
  const { url } = await startGateway(t, singleHost({ "= /exact": { proxyPass: `${up.origin}/anything/target` } }));
  const res = await request(`${url}/exact?k=v`);
  assert.equal(res.status, 200);
  assert.equal(lastSeen(up.seen).url, "/anything/target?k=v");
  const miss = await request(`${url}/exact/more`);
  assert.equal(miss.status, 404, "= matches the exact path only");
  assert.equal(up.seen.length, 1);
});

test("a prefix location ending in / redirects the bare prefix with 301, query kept", async (t) => {
  const up = await startEcho(t);
  const { url, port } = await startGateway(t, singleHost({ "/svc/": { proxyPass: `${up.origin}/` } }));
  const res = await request(`${url}/svc?x=1`);
  assert.equal(res.status, 301);
  // nginx's absolute_redirect: the host from the request, the port it came in on.
  assert.equal(res.headers.location, `http://127.0.0.1:${port}/svc/?x=1`);
  assert.equal(up.seen.length, 0);
});

test("upstream status, body and headers are passed through; Server and Date are the gateway's", async (t) => {
  const up = await startEcho(t);
  const { url } = await startGateway(t, singleHost({ "/": { proxyPass: up.origin } }));

  const teapot = await request(`${url}/status/418`);
  assert.equal(teapot.status, 418);
  const unavailable = await request(`${url}/status/503`);
  assert.equal(unavailable.status, 503, "an upstream error status is the upstream's answer, not a gateway error");
  assert.equal(JSON.parse(unavailable.text).path, "/status/503", "with the upstream's own body");

  const query = new URLSearchParams([
    ["X-Custom", "one, two"],
    ["Set-Cookie", "a=1; Path=/"],
    ["Set-Cookie", "b=2; HttpOnly"],
    ["Cache-Control", "no-store"],
    ["Server", "upstream/1.0"],
    ["Date", "Sat, 01 Jan 2000 00:00:00 GMT"],
  ]);
  const res = await request(`${url}/headers?${query}`);
  assert.equal(res.status, 200);
  assert.equal(res.text, "ok");
  assert.equal(res.headers["x-custom"], "one, two");
  assert.equal(res.headers["cache-control"], "no-store");
  assert.deepEqual(res.headers["set-cookie"], ["a=1; Path=/", "b=2; HttpOnly"], "each Set-Cookie stays a header of its own");
  const names = res.rawHeaders.filter((_, i) => i % 2 === 0).map((name) => name.toLowerCase());
  assert.equal(names.filter((name) => name === "server").length, 1);
  assert.equal(names.filter((name) => name === "date").length, 1);
  assert.equal(res.headers.server, "portico");
  assert.match(String(res.headers.date), HTTP_DATE);
  assert.notEqual(res.headers.date, "Sat, 01 Jan 2000 00:00:00 GMT", "the upstream's Date is replaced");

  for (const path of ["/anything", "/status/404", "/status/204", "/etag"]) {
    const each = await request(`${url}${path}`);
    assert.equal(each.headers.server, "portico", path);
    assert.match(String(each.headers.date), HTTP_DATE, path);
  }
});

test("request method, body and end-to-end headers reach the upstream, repeated headers kept apart", async (t) => {
  const up = await startEcho(t);
  const { url } = await startGateway(t, singleHost({ "/": { proxyPass: up.origin } }));
  const res = await request(`${url}/anything`, {
    method: "PUT",
    headers: ["Content-Type", "text/plain", "X-Multi", "1", "X-Multi", "2", "Accept", "*/*", "Authorization", "Bearer t"],
    body: "hello upstream",
  });
  assert.equal(res.status, 200);
  const seen = lastSeen(up.seen);
  assert.equal(seen.method, "PUT");
  assert.equal(seen.body, "hello upstream");
  assert.equal(seen.headers["content-length"], "14");
  assert.equal(seen.headers["content-type"], "text/plain");
  assert.equal(seen.headers.authorization, "Bearer t");
  const multi = seen.rawHeaders.filter((_, i) => i % 2 === 1 && seen.rawHeaders[i - 1]?.toLowerCase() === "x-multi");
  assert.deepEqual(multi, ["1", "2"]);
});

test("several requests on one client connection all succeed (keep-alive)", async (t) => {
  const up = await startEcho(t);
  const { url } = await startGateway(t, singleHost({ "/": { proxyPass: up.origin }, "/local": { return: "200 'local'" } }));
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());

  const plan: Array<{ path: string; method?: string; body?: string; status: number }> = [
    { path: "/anything/1", status: 200 },
    { path: "/anything/2", method: "POST", body: "x".repeat(10_000), status: 200 },
    { path: "/status/404", status: 404 },
    { path: "/local", status: 200 },
    { path: "/stream-bytes/100000", status: 200 },
    { path: "/status/204", status: 204 },
    { path: "/anything/3", method: "HEAD", status: 200 },
    { path: "/anything/4", status: 200 },
  ];
  const results = [];
  for (const step of plan) {
    const res = await request(`${url}${step.path}`, { agent, method: step.method ?? "GET", ...(step.body ? { body: step.body } : {}) });
    assert.equal(res.status, step.status, step.path);
    results.push(res);
  }
  assert.equal(results[1]?.headers["content-type"], "application/json");
  assert.equal(JSON.parse(results[1]?.text ?? "").bodyLength, 10_000);
  assert.equal(results[4]?.body.length, 100_000);
  assert.ok(
    results.slice(1).every((res) => res.reusedSocket),
    "every request after the first reused the one connection",
  );
});

test("an HTTP/1.0 client gets a chunked upstream answer delimited by the close", async (t) => {
  const up = await startEcho(t);
  const { port } = await startGateway(t, singleHost({ "/": { proxyPass: up.origin } }));
  const res = await rawExchange(port, "GET /stream-bytes/1000 HTTP/1.0\r\n\r\n");
  assert.equal(res.status, 200);
  assert.equal(res.headers["transfer-encoding"], undefined, "HTTP/1.0 has no chunked encoding");
  assert.equal(res.body, "x".repeat(1000));
  assert.ok(res.closed);
});

test("Expect: 100-continue: the client gets 100 Continue, the upstream gets the body without Expect", async (t) => {
  const up = await startEcho(t);
  const { port } = await startGateway(t, singleHost({ "/": { proxyPass: up.origin } }));
  let sent = false;
  const res = await rawExchange(port, "POST /anything HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n", {
    onData(received, socket) {
      if (sent || !received.startsWith("HTTP/1.1 100 Continue\r\n\r\n")) return;
      sent = true;
      socket.write("hello");
    },
  });
  assert.ok(sent, "100 Continue came before the body was sent");
  assert.match(res.raw, /\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
  const seen = lastSeen(up.seen);
  assert.equal(seen.body, "hello");
  assert.equal(seen.headers.expect, undefined);
});

test("inject() against a proxy location calls the real upstream", async (t) => {
  const up = await startEcho(t);
  const gw = await createGateway(singleHost({ "/api/": { proxyPass: `${up.origin}/v1/`, proxySetHeader: { "X-Via": "inject" } } }), {
    logger: pino({ level: "silent" }),
  });
  t.after(() => gw.close());

  const res = await gw.inject({ url: "/api/items?id=7", headers: { "x-client": "yes" } });
  assert.equal(res.status, 200);
  assert.equal(res.headers.server, "portico");
  const body = res.json<EchoRecord>();
  assert.equal(body.url, "/v1/items?id=7");
  assert.equal(body.headers["x-client"], "yes");
  assert.equal(body.headers["x-via"], "inject");
  assert.equal(body.headers.host, `127.0.0.1:${up.port}`);

  const posted = await gw.inject({ method: "POST", url: "/api/items", body: { name: "portico" } });
  assert.equal(posted.status, 200);
  assert.equal(posted.json<EchoRecord>().body, '{"name":"portico"}');
  assert.equal(lastSeen(up.seen).headers["content-type"], "application/json");

  const missing = await gw.inject({ url: "/nowhere" });
  assert.equal(missing.status, 404);
  const head = await gw.inject({ method: "HEAD", url: "/api/x" });
  assert.equal(head.status, 200);
  assert.equal(head.body, "");
});
