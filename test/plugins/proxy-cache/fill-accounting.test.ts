/**
 * A cache miss is an upstream request like any other: it is logged with the server it went to
 * and that server's status (nginx $upstream_addr / $upstream_status are set for a MISS, empty
 * for a HIT), and it counts in the server's passive health (max_fails/fail_timeout: a refused
 * connection is an unsuccessful attempt) and in its requests in flight (what leastConn balances on).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { waitFor } from "../../helpers/cli.js";
import { closedPort, request, singleHost, startEcho, startGateway } from "../../helpers/gateway.js";
import { accessLogFile, waitForRecords } from "../../helpers/logs.js";
import { openRequest } from "../../helpers/upstreams.js";

const CACHEABLE = "/headers?cache-control=max-age%3D60";

test("the access record of a MISS names the upstream server and its status; a HIT's names none", async (t) => {
  const file = await accessLogFile(t);
  const echo = await startEcho(t);
  const { gw, url } = await startGateway(t, singleHost({ "/": { proxyPass: echo.origin, proxyCache: {} } }, { accessLog: { path: file } }));
  const miss = await request(`${url}${CACHEABLE}`);
  assert.equal(miss.headers["x-cache-status"], "MISS");
  const hit = await request(`${url}${CACHEABLE}`);
  assert.equal(hit.headers["x-cache-status"], "HIT");
  assert.equal(echo.seen.length, 1);
  const [missed, served] = await waitForRecords(gw, file, 2);
  assert.deepEqual(
    { cache: missed?.cache, upstream: missed?.upstream, upstreamStatus: missed?.upstreamStatus, timed: typeof missed?.upstreamMs },
    { cache: "MISS", upstream: `127.0.0.1:${echo.port}`, upstreamStatus: 200, timed: "number" },
    "the MISS went upstream, its record must say where",
  );
  assert.deepEqual(
    { cache: served?.cache, upstream: served?.upstream, upstreamStatus: served?.upstreamStatus },
    { cache: "HIT", upstream: null, upstreamStatus: null },
  );
});

test("passive health: cache misses that find a server refusing connections take it out after maxFails", async (t) => {
  const dead = await closedPort();
  const live = await startEcho(t);
  const { gw, url } = await startGateway(
    t,
    singleHost(
      { "/": { proxyPass: "http://pool", proxyCache: {} } },
      { upstreams: { pool: { servers: [`127.0.0.1:${dead}`, `127.0.0.1:${live.port}`], maxFails: 1, failTimeout: "10m" } } },
    ),
  );
  // Round robin: of any two misses in a row, one is sent to the dead server first (then to the live one).
  for (let i = 0; i < 4; i++) {
    const res = await request(`${url}${CACHEABLE}&n=${i}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers["x-cache-status"], "MISS");
  }
  assert.equal(live.seen.length, 4);
  assert.deepEqual(
    gw.upstreamStatus()[0]?.servers.map((s) => ({ address: s.address, healthy: s.healthy, fails: s.fails })),
    [
      { address: `127.0.0.1:${dead}`, healthy: false, fails: 1 },
      { address: `127.0.0.1:${live.port}`, healthy: true, fails: 0 },
    ],
    "the refused connections of cache misses were not counted against the dead server",
  );
});

test("a cache miss in progress counts in its server's requests in flight (leastConn), and is released at its end", async (t) => {
  const echo = await startEcho(t);
  const { gw, url } = await startGateway(
    t,
    singleHost(
      { "/": { proxyPass: "http://pool", proxyCache: {} } },
      { upstreams: { pool: { servers: [`127.0.0.1:${echo.port}`], loadBalancing: "leastConn" } } },
    ),
  );
  const inFlight = () => gw.upstreamStatus()[0]?.servers[0]?.inFlight;
  // /hold/NAME sends its first bytes at once and the rest when released: the miss is mid-body here.
  const { res, done } = await openRequest(`${url}/hold/fill`);
  const during = inFlight();
  echo.release("fill");
  assert.equal(await done, "first\nlast\n");
  assert.equal(res.headers["x-cache-status"], "MISS");
  assert.equal(during, 1, "the miss being streamed from the server was not counted in flight");
  // Released once the exchange is over (the record of it may trail the client's last byte a little).
  await waitFor("the miss's release", () => (inFlight() === 0 ? true : undefined));
});
