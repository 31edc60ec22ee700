/**
 * proxyNextUpstream: which failures pass a request to the next server (connect errors, timeouts,
 * listed statuses), the try and time limits, and what is never retried (a non-idempotent request
 * once sent, a streamed body, "off").
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { PorticoConfig } from "../../src/config/schema.js";
import { closedPort, request, singleHost, startEcho, startGateway } from "../helpers/gateway.js";
import { startSwitchServer } from "../helpers/upstreams.js";

function pool(servers: string[], location: Record<string, unknown> = {}, upstream: Record<string, unknown> = {}): PorticoConfig {
  // Passive health off: these tests look at one request at a time.
  return singleHost({ "/": { proxyPass: "http://pool", ...location } }, { upstreams: { pool: { servers, maxFails: 0, ...upstream } } });
}

test('a connect error goes to the next server (default "error timeout"); with "off" it is the client\'s 502', async (t) => {
  const echo = await startEcho(t);
  const dead = `127.0.0.1:${await closedPort()}`;
  const { url } = await startGateway(t, pool([dead, `127.0.0.1:${echo.port}`]));
  for (let i = 0; i < 4; i++) assert.equal((await request(`${url}/anything/${i}`)).status, 200);
  // A POST with a streamed body too: it never left the gateway.
  const post = await request(`${url}/anything/post`, { method: "POST", body: "hello", headers: { "content-type": "text/plain" } });
  assert.equal(post.status, 200);
  assert.equal(echo.seen.length, 5);

  const off = await startGateway(t, pool([dead, `127.0.0.1:${echo.port}`], { proxyNextUpstream: "off" }));
  const statuses = [];
  for (let i = 0; i < 4; i++) statuses.push((await request(`${off.url}/anything/off/${i}`)).status);
  assert.deepEqual(statuses.sort(), [200, 200, 502, 502]);
});

test("a listed status goes to the next server; an unlisted one is passed to the client", async (t) => {
  const s1 = await startSwitchServer(t, 503);
  const echo = await startEcho(t);
  const listed = await startGateway(t, pool([s1.address, `127.0.0.1:${echo.port}`], { proxyNextUpstream: ["error", "timeout", "http_503"] }));
  for (let i = 0; i < 4; i++) assert.equal((await request(`${listed.url}/anything/${i}`)).status, 200);
  // Round-robin moves on with each attempt, so s1 comes first every time here (as in nginx).
  assert.equal(s1.hits.length, 4);
  assert.equal(echo.seen.length, 4);

  const unlisted = await startGateway(t, pool([s1.address, `127.0.0.1:${echo.port}`]));
  const statuses = [];
  for (let i = 0; i < 4; i++) statuses.push((await request(`${unlisted.url}/anything/u/${i}`)).status);
  assert.deepEqual(statuses.sort(), [200, 200, 503, 503]);
});

test("when every server answers a listed status, the last answer goes to the client; proxyNextUpstreamTries bounds the attempts", async (t) => {
  const servers = [await startSwitchServer(t, 502), await startSwitchServer(t, 502), await startSwitchServer(t, 502)];
  const addresses = servers.map((s) => s.address);
  const hits = () => servers.reduce((sum, s) => sum + s.hits.length, 0);

  const all = await startGateway(t, pool(addresses, { proxyNextUpstream: "http_502" }));
  const res = await request(`${all.url}/x`);
  assert.equal(res.status, 502);
  assert.match(res.text, /^status 502 from/, "the upstream's own answer, not the gateway's error page");
  assert.equal(hits(), 3);

  const two = await startGateway(t, pool(addresses, { proxyNextUpstream: "http_502", proxyNextUpstreamTries: 2 }));
  assert.equal((await request(`${two.url}/y`)).status, 502);
  assert.equal(hits(), 5);
});

test("proxyNextUpstreamTimeout: no other attempt starts once the time since the first is spent", async (t) => {
  const a = await startEcho(t);
  const b = await startEcho(t);
  const servers = [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`];
  // Each attempt times out reading the answer after 150 ms.
  const unlimited = await startGateway(t, pool(servers, { proxyReadTimeout: "150ms" }));
  assert.equal((await request(`${unlimited.url}/delay/600000`)).status, 504);
  assert.equal(a.seen.length + b.seen.length, 2, "both servers tried");

  const limited = await startGateway(t, pool(servers, { proxyReadTimeout: "150ms", proxyNextUpstreamTimeout: "100ms" }));
  assert.equal((await request(`${limited.url}/delay/600000`)).status, 504);
  assert.equal(a.seen.length + b.seen.length, 3, "only one more attempt");
});

test("a POST that reached the server is not passed on (unless non_idempotent, and only without a streamed body)", async (t) => {
  const s1 = await startSwitchServer(t, 503);
  const s2 = await startSwitchServer(t, 503);
  const echo = await startEcho(t);
  const servers = [s1.address, s2.address, `127.0.0.1:${echo.port}`];
  const hits = () => s1.hits.length + s2.hits.length;

  const plain = await startGateway(t, pool(servers, { proxyNextUpstream: "error timeout http_503" }));
  assert.equal((await request(`${plain.url}/p1`, { method: "POST" })).status, 503);
  assert.equal(hits(), 1);
  // GET is idempotent: passed on until the echo answers.
  assert.equal((await request(`${plain.url}/anything/g`)).status, 200);

  const allowed = await startGateway(t, pool(servers, { proxyNextUpstream: "error timeout http_503 non_idempotent" }));
  const before = hits();
  const res = await request(`${allowed.url}/anything/p2`, { method: "POST" });
  assert.equal(res.status, 200);
  assert.equal(hits() - before, 2);
  // A body streamed to the first server cannot be sent again: its answer stands.
  const streamed = await request(`${allowed.url}/anything/p3`, { method: "POST", body: "data", headers: { "content-type": "text/plain" } });
  assert.equal(streamed.status, 503);
});
