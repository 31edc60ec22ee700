/**
 * A request the gateway cannot send because of what the client put in it is the client's error
 * (400), never a failure of the upstream servers. nginx's max_fails counts only what
 * proxy_next_upstream calls an unsuccessful attempt with a server (error, timeout, invalid
 * header from the server, listed statuses); a request undici refuses before any connection is
 * made ("invalid X-U header": a header value built from the client's input holds a control byte,
 * RFC 9110 5.5) reached no server, so it may neither mark them failed nor be retried on each of
 * them in turn (which, with maxFails 1, empties the group: "no live upstreams" for failTimeout).
 */
import assert from "node:assert/strict";
import { type TestContext, test } from "node:test";
import { request, singleHost, startEcho, startGateway } from "../helpers/gateway.js";

async function setup(t: TestContext) {
  const a = await startEcho(t);
  const b = await startEcho(t);
  const config = singleHost(
    {
      // $uri is decoded (nginx): /u/a%01b gives the value "/u/a\x01b".
      "/u/": { proxyPass: "http://pool", proxySetHeader: { "X-U": "$uri" } },
      // A regex capture of the decoded path, the same way.
      "~ ^/re/(.*)$": { proxyPass: "http://pool", proxySetHeader: { "X-R": "$1" } },
    },
    { upstreams: { pool: { servers: [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`], maxFails: 1, failTimeout: "10m" } } },
  );
  const { gw, url } = await startGateway(t, config);
  const health = () => gw.upstreamStatus()[0]?.servers.map((s) => ({ address: s.address, healthy: s.healthy, fails: s.fails }));
  const healthy = [
    { address: `127.0.0.1:${a.port}`, healthy: true, fails: 0 },
    { address: `127.0.0.1:${b.port}`, healthy: true, fails: 0 },
  ];
  return { a, b, url, health, healthy };
}

for (const [what, bad, good] of [
  ["$uri", "/u/a%01b", "/u/ok"],
  ["a regex capture", "/re/a%1fb", "/re/ok"],
] as const) {
  test(`a control byte in ${what} sent as a header: 400 for that request, the group stays healthy and serves the next one`, async (t) => {
    const { a, b, url, health, healthy } = await setup(t);
    const refused = await request(`${url}/`, { path: bad });
    assert.deepEqual(health(), healthy, "the client's bad request was counted as a failure of the servers");
    const next = await request(`${url}${good}`);
    assert.equal(next.status, 200, `a normal request after the bad one: ${next.status} ${next.text}`);
    assert.equal(refused.status, 400, `the bad request: ${refused.status} ${refused.text}`);
    // The bad request reached no server; the good one did.
    assert.deepEqual(
      [...a.seen, ...b.seen].map((seen) => seen.path),
      [good],
    );
  });
}
